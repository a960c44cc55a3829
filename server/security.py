"""Browser-side safety. By default the service has no API key, so a web page on another site must not
be able to write to it through the visitor's browser, nor reach it under its own name (DNS rebinding).

`Guard` is the outermost ASGI layer, outside Starlette's error middleware, so every response (errors,
404s, static files, SSE streams, even a 500) carries the headers. It is pure ASGI: it never buffers a
body, so streams stay streams.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.config import ServerSettings
from server.errors import error_response

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values of requests made by this server's own pages, or typed by the user; anything
# else is refused, same-site too: another port on localhost, or a sibling subdomain, is another application.
OWN = frozenset({"same-origin", "none"})

HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make browsers send `Origin: null` on own form posts
    (b"x-frame-options", b"DENY"),
)
# Responses that bring no policy of their own (JSON, files, streams) may load nothing and be framed nowhere.
CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI as fastapi_swagger serves it: its bundle and stylesheet from here, one inline script that
# starts it (allowed by its hash), data: images in the stylesheet, and fetches to this server.
DOCS_CSP = ("default-src 'none'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")  # fmt: skip

_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?")
_ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://(.+)")
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header (or an origin's host part) as (name, port); None if it is not one."""
    m = _HOST.fullmatch(value.strip().lower())
    if m is None:
        return None
    return m.group(1).strip("[]").rstrip("."), int(m.group(2)) if m.group(2) else None


def host_allowed(name: str, allowed: list[str], local: str | None = None) -> bool:
    """Whether a Host name is allowed, or is the address the connection came in on: a DNS rebinding
    attack always names the attacker's domain, so an address literal that is ours is no attack."""
    if local is not None and _address(name) == _address(local):
        return True
    return any(a == "*" or a == name or (a.startswith("*.") and name.endswith(a[1:])) for a in allowed)


def _address(name: str) -> str:
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)  # ::ffff:a.b.c.d


def same_origin(origin: str, host: str) -> bool:
    """Whether a browser's Origin names this server as the Host header does (scheme aside: a proxy may
    end TLS, so the server can see http where the browser saw https)."""
    m = _ORIGIN.fullmatch(origin.strip().lower())
    theirs, ours = split_host(m.group(2)) if m else None, split_host(host)
    if m is None or theirs is None or ours is None:
        return False  # includes Origin: null (sandboxed frames, file: pages)
    default = _DEFAULT_PORTS.get(m.group(1))
    return theirs[0] == ours[0] and (theirs[1] or default) == (ours[1] or default)


def refusal(method: str, headers: Headers, server: ServerSettings, local: str | None = None) -> tuple[int, str] | None:
    """(status, message) when the request must be refused, else None. `local`: the address the
    connection came in on (the ASGI scope's `server`)."""
    hosts = headers.getlist("host")
    if len(hosts) > 1:  # RFC 9112 3.2: answered with 400; which one a proxy or a check read is anyone's guess
        return 400, f"the request has {len(hosts)} Host headers; send exactly one"
    host = hosts[0] if hosts else ""
    parsed = split_host(host)
    if parsed is None or not host_allowed(parsed[0], server.trusted_hosts(), local):
        shown = repr(host) if host else "(none)"
        return 400, (
            f"this server does not answer to the host name {shown}: add it to QA_SERVER_ALLOWED_HOSTS if it is "
            "really this server's name (names are checked to stop DNS rebinding)"
        )
    if method not in UNSAFE:
        return None
    # Browsers that send Sec-Fetch-Site are judged by it (scripts cannot set it); older ones by Origin.
    # Without either it is not a browser's cross-site request: curl, the CLI, the OpenAI client.
    site, origin = headers.get("sec-fetch-site"), headers.get("origin")
    if site is not None:
        foreign = site.lower() not in OWN
    else:
        foreign = origin is not None and not same_origin(origin, host)
    if foreign:
        came_from = f"a page at {origin}" if origin and origin != "null" else "a page of another site"
        came_from += f" (Sec-Fetch-Site: {site})" if site else ""
        return 403, (
            f"cross-site request refused: this {method} came from {came_from}, not from a page of this server; "
            "browsers may only write here from this server's own pages (API clients, which send no Origin "
            "header, are not affected)"
        )
    return None


def _with_headers(raw: list[tuple[bytes, bytes]], csp: str) -> list[tuple[bytes, bytes]]:
    """The security headers the response does not set itself; a page with its own policy keeps it."""
    present = {k.lower() for k, _ in raw}
    extra = [(k, v) for k, v in HEADERS if k not in present]
    if b"content-security-policy" not in present:
        extra.append((b"content-security-policy", csp.encode()))
    return [*raw, *extra]


class Guard:
    """Refuses foreign or repeated Host headers (400) and cross-site writes (403) with the API's error
    JSON, and adds the security headers to every response. `server` gives the settings at request time:
    the lifespan makes them after the app is built."""

    def __init__(self, app: ASGIApp, server: Callable[[], ServerSettings]) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_headers(list(message.get("headers", [])), CSP)}
            elif message["type"] == "http.response.body" and scope["method"] == "HEAD":
                message = {**message, "body": b""}  # a refusal of a HEAD request has no body either
            await send(message)

        local = (scope.get("server") or (None,))[0]
        refused = refusal(scope["method"], Headers(scope=scope), self.server(), local)
        if refused is not None:
            return await error_response(*refused)(scope, receive, secured)
        await self.app(scope, receive, secured)


class DocsPolicy:
    """The CSP of the Swagger UI page, which runs one inline script: the page is small, so it is held
    back until complete and the policy allows exactly the scripts in it, by hash."""

    def __init__(self, app: ASGIApp, path: str = "/docs") -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        start: Message | None = None
        body = bytearray()

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                return await send(message)
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            hashes = " ".join(
                f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                for s in _INLINE_SCRIPT.findall(bytes(body))
            )
            csp = DOCS_CSP.format(hashes=hashes).replace("'self' ;", "'self';")
            await send({**start, "headers": _with_headers(list(start.get("headers", [])), csp)})
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, held)
