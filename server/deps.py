"""FastAPI dependencies: the settings, engine and library made once in the lifespan, and the API key check."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request

from qa.config import Settings
from qa.engine import QAEngine
from qa.library import Library
from server.errors import ApiError
from server.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def settings(rt: Runtime = Depends(runtime)) -> Settings:
    return rt.settings


def engine(rt: Runtime = Depends(runtime)) -> QAEngine:
    # a plain `def`: FastAPI runs it in the thread pool, so waiting for the model never blocks the loop
    return rt.engine()


def library(rt: Runtime = Depends(runtime)) -> Library:
    return rt.library()


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(kind: str) -> bool:
    return kind == "application/json" or kind.endswith("+json")


def json_body(request: Request) -> None:
    """JSON endpoints refuse other media types with 415 rather than a confusing validation error."""
    kind = media_type(request)
    if not is_json(kind):
        raise ApiError(415, f"unsupported media type {kind or '(none)'!r}: send the body as application/json")


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def key_matches(given: str | None, s: Settings) -> bool:
    if s.api_key is None:
        return True
    expected = s.api_key.get_secret_value().encode()
    return hmac.compare_digest((given or "").encode(), expected)  # constant time


def _check(request: Request, s: Settings) -> None:
    if not key_matches(presented_key(request), s):
        raise ApiError(401, "a valid API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
                       headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


def require_write(request: Request, s: Settings = Depends(settings)) -> None:
    if s.api_key is not None:
        _check(request, s)


def reads_protected(s: Settings) -> bool:
    return s.api_key is not None and s.server.protect_reads


def require_read(request: Request, s: Settings = Depends(settings)) -> None:
    if reads_protected(s):
        _check(request, s)


# The refusals each dependency can give: the OpenAPI schema declares them on every route that uses it.
REFUSALS: dict[object, tuple[int, ...]] = {
    engine: (503,),
    library: (503,),
    json_body: (415,),
    require_read: (401,),
    require_write: (401,),
}
