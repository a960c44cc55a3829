"""Errors a user can act on. The CLI prints them as one line; the server maps them to 4xx."""


class QAError(Exception):
    """Base: a clear, one-line message for the user."""

    status = 400


class BadInput(QAError):
    """A question, file or request the service refuses."""


class TooLarge(BadInput):
    status = 413


class NotText(BadInput):
    """Binary or non-UTF-8 content, or a file type we do not read."""

    status = 415


class NotFound(QAError):
    status = 404


class EmptyIndex(QAError):
    status = 409


class ModelMismatch(QAError):
    status = 409


class BackendUnavailable(QAError):
    status = 503


class IndexUnreachable(BackendUnavailable):
    """Chroma's server is down or cut off: worth retrying, unlike a missing package."""


class IndexBusy(BackendUnavailable):
    """Another process holds the index's write lock for longer than a request may wait."""
