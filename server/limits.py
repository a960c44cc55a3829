"""Refuse request bodies over the limit before they are read into memory (declared or streamed), and
JSON bodies nested too deeply before they are parsed: json.loads recurses once per level.

A browser's form post to a page (not to the JSON APIs under /api and /v1) is refused by the page
itself, in its own words: its body is counted as it is read, and the page's form reader
(server/forms.py) turns `BodyTooLarge` into the page's sentence. A page that never reads the body
answers as it would anyway."""

from __future__ import annotations

import json

from fastapi import HTTPException

from qa.text import MAX_NESTING, json_too_deep
from server.deps import is_json
from server.errors import body as error_body

DEEP_MESSAGE = f"malformed JSON: nested more than {MAX_NESTING} levels deep (the limit)"


class _Refused(HTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it and the app's handler answers."""


class BodyTooLarge(_Refused):
    """Raised from `receive` when the body passes the limit; the app's handler answers it (JSON), or a
    page's form reader does (HTML)."""


FORMS = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
_APIS = ("/api/", "/v1/")


def _message(limit: int) -> str:
    return f"the request body is too large (the limit is {limit} bytes)"


def _media_type(headers: dict[bytes, bytes]) -> str:
    return headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")


def _parsed_as_json(kind: str) -> bool:
    return not kind or is_json(kind)  # FastAPI may parse a body without a content-type as JSON too


def page_form(scope, kind: str) -> bool:
    """Whether this is a browser's form post to a page, which answers a refusal with HTML."""
    return kind in FORMS and not scope["path"].startswith(_APIS)


class BodyLimit:
    """The limit is read per request from the settings the lifespan made (scope["app"].state)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = scope["app"].state.runtime.settings.server.max_body_bytes
        headers = dict(scope.get("headers") or [])
        kind = _media_type(headers)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit and not page_form(scope, kind):
            return await self._refuse(send, 413, _message(limit))
        seen = 0
        started = False
        # Kept (at most `limit` bytes) to measure its nesting before the last piece reaches the parser.
        json_body = bytearray() if _parsed_as_json(kind) else None
        form = page_form(scope, kind)

        async def counted_receive():
            nonlocal seen
            if seen > limit:
                raise BodyTooLarge(413, _message(limit))
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    if not form:
                        raise BodyTooLarge(413, _message(limit))
                    # A page's form reader gets the body up to the limit first, so that it can tell a
                    # file from pasted text and keep the fields before it; the next read is refused.
                    return {**message, "body": chunk[: len(chunk) - (seen - limit)], "more_body": True}
                if json_body is not None:
                    json_body.extend(chunk)
                    if not message.get("more_body") and json_too_deep(bytes(json_body)):
                        raise _Refused(400, DEEP_MESSAGE)
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _Refused as refused:
            if not started:
                await self._refuse(send, refused.status_code, refused.detail)

    async def _refuse(self, send, status: int, message: str) -> None:
        payload = json.dumps(error_body(status, message)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})
