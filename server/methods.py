"""HEAD and OPTIONS for every route. FastAPI routes answer only the methods they declare, so HEAD and
OPTIONS were 405s: HEAD now runs as GET with the body dropped (same status and headers, Content-Length
included), OPTIONS answers 204 with an `Allow` header (and no CORS headers: it grants no cross-origin
access), and a 405 names every method the path takes, not just those of the first route that matched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import routing
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def flat_routes(routes: Sequence[BaseRoute]) -> Iterable[Any]:
    """Every route, included routers opened: newer FastAPI keeps them nested, as route contexts that
    answer `matches`, `methods`, `path_format` ... as the route would."""
    contexts = getattr(routing, "iter_route_contexts", None)
    return contexts(routes) if contexts is not None else routes


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes at this path; mounts (static files, Swagger's) are GET-only."""
    methods: set[str] = set()
    for route in flat_routes(routes):
        if route.matches(scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or {"GET"}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods | {"OPTIONS"}) if methods else []


class Methods:
    """The ASGI layer that does it; `routes` is the app's live route list."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method == "OPTIONS" and (allowed := allowed_methods(self.routes, scope)):
            return await Response(status_code=204, headers={"Allow": ", ".join(allowed)})(scope, receive, send)

        async def answered(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(allowed_methods(self.routes, scope)).encode()
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*kept, (b"allow", allow)]}
            elif message["type"] == "http.response.body" and method == "HEAD":
                if message.get("more_body"):
                    return  # every GET route here ends its body; a HEAD just waits for that end
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"} if method == "HEAD" else scope, receive, answered)
