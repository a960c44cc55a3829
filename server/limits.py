"""Refuse request bodies over the limit before they are read into memory (declared or streamed)."""

from __future__ import annotations

import json

from fastapi import HTTPException

from server.errors import body as error_body


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it and the 413 handler answers."""


def _message(limit: int) -> str:
    return f"the request body is too large (the limit is {limit} bytes)"


class BodyLimit:
    """The limit is read per request from the settings the lifespan made (scope["app"].state)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = scope["app"].state.runtime.settings.server.max_body_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._refuse(send, limit)
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(413, _message(limit))
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send, limit: int) -> None:
        payload = json.dumps(error_body(413, _message(limit))).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})
