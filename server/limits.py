"""Refuse request bodies over the limit before they are read into memory (declared or streamed), and
JSON bodies nested too deeply before they are parsed: json.loads recurses once per level."""

from __future__ import annotations

import json

from fastapi import HTTPException

from qa.text import MAX_NESTING, json_too_deep
from server.deps import is_json
from server.errors import body as error_body

DEEP_MESSAGE = f"malformed JSON: nested more than {MAX_NESTING} levels deep (the limit)"


class _Refused(HTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it and the app's handler answers."""


class _TooLarge(_Refused):
    pass


def _message(limit: int) -> str:
    return f"the request body is too large (the limit is {limit} bytes)"


def _parsed_as_json(headers: dict[bytes, bytes]) -> bool:
    # FastAPI may parse a body without a content-type as JSON too
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
    return not kind or is_json(kind)


class BodyLimit:
    """The limit is read per request from the settings the lifespan made (scope["app"].state)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = scope["app"].state.runtime.settings.server.max_body_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._refuse(send, 413, _message(limit))
        seen = 0
        started = False
        # Kept (at most `limit` bytes) to measure its nesting before the last piece reaches the parser.
        json_body = bytearray() if _parsed_as_json(headers) else None

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise _TooLarge(413, _message(limit))
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
