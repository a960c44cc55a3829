"""Errors a user can act on. The CLI prints them as one line; the server maps them to 4xx."""


class QAError(Exception):
    """Base: a clear, one-line message for the user. `code` is the API's machine-readable reason (a
    string, as OpenAI sends it)."""

    status = 400
    code = "invalid_request"


class BadInput(QAError):
    """A question, file or request the service refuses."""


class TooLarge(BadInput):
    status = 413
    code = "too_large"


class NotText(BadInput):
    """Binary or non-UTF-8 content, or a file type we do not read."""

    status = 415
    code = "unsupported_content"


class NotFound(QAError):
    status = 404
    code = "not_found"


class EmptyIndex(QAError):
    status = 409
    code = "nothing_indexed"


class ModelMismatch(QAError):
    status = 409
    code = "reindex_required"


class BackendUnavailable(QAError):
    status = 503
    code = "backend_unavailable"


class IndexUnreachable(BackendUnavailable):
    """Chroma's server is down or cut off: worth retrying, unlike a missing package."""

    code = "index_unreachable"


class IndexBusy(BackendUnavailable):
    """Another process holds the index's write lock for longer than a request may wait."""

    code = "index_busy"
