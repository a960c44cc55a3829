"""Every refusal is a 4xx with one JSON shape ({"error": {message, type, code, param}}), never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.errors import QAError
from server.methods import flat_routes
from server.schemas import ErrorBody, ErrorDetail

log = logging.getLogger(__name__)

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
          405: "invalid_request_error", 409: "conflict_error", 413: "request_too_large", 415: "unsupported_media_type", 422: "invalid_request_error",
          500: "server_error", 503: "service_unavailable", 507: "insufficient_storage"}  # fmt: skip
# `code` is a string, as OpenAI sends it; these are the defaults when nothing names a finer reason
_CODES = {400: "invalid_request", 401: "invalid_api_key", 403: "cross_site_refused", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
          422: "invalid_request", 500: "internal_error", 503: "unavailable", 507: "disk_full"}  # fmt: skip
INTERNAL = "something went wrong on the server; the server log has the details"


def code_for(status: int) -> str:
    return _CODES.get(status, "error")


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None,
        code: str | None = None,
    ):  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.param, self.headers = status, message, param, headers
        self.code = code or code_for(status)


def body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return ErrorBody(
        error=ErrorDetail(message=message, type=_TYPES.get(status, "error"), code=code or code_for(status), param=param)
    ).model_dump()


def error_response(
    status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None, code: str | None = None
) -> JSONResponse:
    return JSONResponse(body(status, message, param, code), status_code=status, headers=headers)


def describe(exc: RequestValidationError) -> tuple[int, str, str | None]:
    """Pydantic's error list -> one readable sentence; malformed JSON is a 400, a wrong shape a 422."""
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            where = e.get("ctx", {}).get("error", "")
            at = e.get("loc", (None, None))[-1]
            return (
                400,
                f"malformed JSON: {where or 'cannot parse'}" + (f" (at character {at})" if isinstance(at, int) else ""),
                None,
            )
    parts, param = [], None
    for e in errors[:3]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        field = ".".join(loc) or "body"
        param = param or field
        msg = e.get("msg", "invalid")
        if e.get("type") == "missing":
            msg = "is required"
        elif e.get("type") == "extra_forbidden":
            msg = "is not a known field"
        elif e.get("type") in ("model_type", "model_attributes_type", "dict_type") and field == "body":
            msg = "must be a JSON object"
        if field.startswith("history") and e.get("type") != "too_long":
            msg += "; history must be a list of {role: user|assistant, content: string} objects"
        parts.append(f"{field}: {msg}" if not msg.startswith("is ") else f"{field} {msg}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return 422, "; ".join(parts) + more, param


def install(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def _qa_error(request: Request, exc: QAError) -> JSONResponse:
        return error_response(exc.status, str(exc), param=getattr(exc, "field", None), code=exc.code)  # InvalidText names its field

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, param=exc.param, headers=exc.headers, code=exc.code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, param = describe(exc)
        return error_response(status, message, param=param, code="invalid_json" if message.startswith("malformed JSON") else None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, INTERNAL)  # the class and traceback go to the log, not to the reader


# -- the OpenAPI schema lists every refusal --------------------------------------------------------
DESCRIPTIONS = {
    400: "Malformed request, or a Host header this server does not answer to (QA_SERVER_ALLOWED_HOSTS)",
    401: "A valid API key is required",
    403: "Cross-site request refused: browsers may only write from this server's own pages",
    404: "No such article or model",
    409: "Nothing is indexed yet",
    413: "The request body, or the article in it, is too large",
    415: "The body is not of a media type this endpoint reads",
    422: "The request does not have the documented shape",
    503: "Not ready: the model and index are loading, or failed to load; or the index cannot be written (read-only, "
    "no permission)",
    507: "The disk holding the index is full: nothing was written",
}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_REPLACEABLE = ({"$ref": "#/components/schemas/ErrorBody"}, {"$ref": "#/components/schemas/HTTPValidationError"})


def declare(app: FastAPI, statuses: Callable[[Any, str], Mapping[int, dict[str, Any] | None]]) -> None:
    """Make app.openapi() list on every operation the statuses `statuses(route, method)` gives, each with
    an OpenAPI response object to merge or None. Refusals get the error model, which also replaces
    FastAPI's 422 model (our handler answers 422s in the error shape); a success status starts from the
    route's declared success response."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI caches it in app.openapi_schema: completed here once
            for route in flat_routes(app.routes):
                if isinstance(getattr(route, "original_route", route), APIRoute) and route.include_in_schema:
                    for method in route.methods:
                        _complete(schema["paths"][route.path_format][method.lower()]["responses"],
                                  statuses(route, method), str(route.status_code or 200))  # fmt: skip
            if "HTTPValidationError" not in str(schema["paths"]):
                for name in ("HTTPValidationError", "ValidationError"):
                    schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(responses: dict[str, Any], statuses: Mapping[int, dict[str, Any] | None], success: str) -> None:
    for status, extra in sorted(statuses.items()):
        declared, extra = responses.get(str(status)), extra or {}
        if status < 400:
            base = declared or responses[success]
            content = {**base.get("content", {}), **extra.get("content", {})}
            responses[str(status)] = {**base, **extra, "content": content}
            continue
        schema = (declared or {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None or schema in _REPLACEABLE:  # a route's own error model (readyz's 503) stays
            fallback = (declared or {}).get("description", "Refused")
            description = extra.get("description") or DESCRIPTIONS.get(status, fallback)
            responses[str(status)] = {"description": description, "content": _ERROR_CONTENT}
