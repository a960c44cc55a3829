"""Errors a user can act on. The CLI prints them as one line; the server maps them to 4xx (5xx for the
index's storage)."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from pathlib import Path


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


class FetchFailed(BadInput):
    """A link could not be fetched: an unreachable host, a timeout, or the site's own error."""

    status = 422
    code = "fetch_failed"


class AddressBlocked(BadInput):
    """A link (or a redirect) leads to a loopback, private, link-local or metadata address. (Not 403:
    clients read 403 as a missing key.)"""

    status = 400
    code = "address_blocked"


class NotAnArticle(BadInput):
    """A page with no article on it: a paywall stub, a login page, an index of links; or a malformed feed."""

    status = 422
    code = "not_an_article"


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


class StorageFailed(BackendUnavailable):
    """The index could not be written (a read-only file system, missing permissions, a disk error): the
    message names the directory and the cause; the write left the index as it was."""

    code = "storage_unavailable"


class DiskFull(StorageFailed):
    """No space left where the index is written."""

    status = 507
    code = "disk_full"


# What Chroma (its SQLite and HNSW files), SQLite and the OS say when the index cannot be written.
_FULL = ("database or disk is full", "no space left", "os error 28", "disk quota", "os error 122")
_READ_ONLY = ("readonly database", "read-only file system", "os error 30")
_DENIED = ("permission denied", "os error 13", "operation not permitted", "unable to open database file")
_DISK = ("disk i/o error", "input/output error", "error in compaction", "failed to apply logs")
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_MIN_FREE = 1 << 20  # a data directory with less free space than this is full, whatever the message says


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def has_room(path: Path | None) -> bool:
    """Whether the file system holding `path` has at least `_MIN_FREE` bytes free (True when unknown)."""
    if path is None:
        return True
    try:
        return shutil.disk_usage(path).free >= _MIN_FREE
    except OSError:
        return True


def disk_full(location: str) -> DiskFull:
    return DiskFull(f"cannot write the index in {location}: the disk is full; free some space and try again")


def storage_error(err: BaseException, location: str, path: Path | None = None) -> StorageFailed | None:
    """One line naming `location` and the cause, when `err` says the index cannot be written; else None."""
    found = None
    for e in _chain(err):
        if isinstance(e, StorageFailed):
            return e
        if isinstance(e, QAError):
            continue  # ours: its message may quote the user ("no article with id 'disk I/O error'")
        message = str(e).lower()
        if isinstance(e, OSError) and e.errno in _FULL_ERRNOS or any(k in message for k in _FULL):
            found = "full"
        elif isinstance(e, OSError) and e.errno == errno.EROFS or any(k in message for k in _READ_ONLY):
            found = "read-only"
        elif isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM) or any(k in message for k in _DENIED):
            found = "denied"
        elif isinstance(e, OSError) and e.errno == errno.EIO or any(k in message for k in _DISK):
            found = "disk"
        if found:
            break
    if found is None:
        return None
    if found != "full" and path is not None and not has_room(path):  # SQLite's "disk I/O error" and Chroma's compaction errors on a full disk
        found = "full"
    if found == "full":
        return disk_full(location)
    cause = {"read-only": "the file system is read-only", "denied": "permission denied",
             "disk": "a disk error"}[found]  # fmt: skip
    return StorageFailed(f"cannot write the index in {location}: {cause}")
