"""Fetch one link safely: http(s) only, public addresses only (checked after DNS and at every redirect,
and the connection pinned to the address checked, so a second DNS answer cannot swap it), a size cap,
timeouts, at most 5 redirects, conditional requests, and one request per second per host when asked."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from qa.config import FetchSettings
from qa.errors import AddressBlocked, BadInput, FetchFailed, TooLarge

MAX_REDIRECTS = 5
# never fetched, whatever QA_FETCH_ALLOW_PRIVATE says: link-local (cloud metadata services live there) and
# the metadata addresses outside it; no news is published on them
_NEVER = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")]


@dataclass
class Fetched:
    url: str  # after redirects
    status: int
    content_type: str  # lower case, without parameters
    charset: str | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class HostPacer:
    """At most one request per `interval` seconds to one host (feed refreshes, politely)."""

    def __init__(self, interval: float):
        self.interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._last.get(host, -1e9) + self.interval)
            self._last[host] = at
        if at > now:
            time.sleep(at - now)


def check_link(url: str) -> str:
    """`url` if it is an absolute http(s) link; else BadInput saying why."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise BadInput(f"only http and https links can be added, not {url[:200]!r}")
    if not parts.hostname:
        raise BadInput(f"the link has no host: {url[:200]!r}")
    return url


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _address(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to: every address `host` resolves to must be public (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"cannot find the host {host!r} ({getattr(exc, 'strerror', None) or exc})") from exc
    ips = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for ip in ips:
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        if any(plain in net for net in _NEVER if net.version == plain.version):
            raise AddressBlocked(f"{host} resolves to {ip}, a link-local or cloud metadata address; links there are refused")
        if not allow_private and not _public(plain):
            raise AddressBlocked(
                f"{host} resolves to {ip}, a loopback, private, link-local or metadata address; "
                "links there are refused (QA_FETCH_ALLOW_PRIVATE=true allows them)"
            )
    return str(ips[0])


def fetch(url: str, settings: FetchSettings, *, max_bytes: int, etag: str | None = None,
          last_modified: str | None = None, pacer: HostPacer | None = None) -> Fetched:  # fmt: skip
    """GET `url`; a 304 comes back as is (`not_modified`); any other non-2xx, a timeout, an unreachable
    host, a blocked address or a body over `max_bytes` raises a one-line error."""
    import httpx  # only paid by commands that fetch

    timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
    headers = {"User-Agent": settings.user_agent, "Accept": "text/html,application/xhtml+xml,application/pdf,"
               "application/rss+xml,application/atom+xml,application/feed+json,application/xml;q=0.9,*/*;q=0.5"}  # fmt: skip
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + settings.connect_timeout_s + settings.read_timeout_s
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            url = check_link(url)
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            ip = _address(host, port, settings.allow_private)
            if pacer is not None:
                pacer.wait(host)
            # connect to the address just checked; the name still goes in Host and TLS (SNI and the certificate)
            target = httpx.URL(url).copy_with(host=ip)
            request = client.build_request("GET", target, headers=headers | {"Host": parts.netloc.rsplit("@", 1)[-1]},
                                           extensions={"sni_hostname": host})  # fmt: skip
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise FetchFailed(f"{host} did not answer in time ({url[:200]})") from exc
            except httpx.HTTPError as exc:
                raise FetchFailed(f"cannot reach {host}: {exc or type(exc).__name__}") from exc
            try:
                if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                return _read(response, url, max_bytes=max_bytes, deadline=deadline)
            finally:
                response.close()
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {url[:200]}")


def _read(response, url: str, *, max_bytes: int, deadline: float) -> Fetched:
    import httpx

    status = response.status_code
    host = urlsplit(url).hostname
    if status >= 400:
        raise FetchFailed(f"{host} answered {status} {response.reason_phrase or ''}".rstrip() + f" for {url[:200]}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise TooLarge(f"{url[:200]} is too large ({int(length)} bytes; the limit is {max_bytes})")
    body = bytearray()
    if status != 304:
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise TooLarge(f"{url[:200]} is too large (over {max_bytes} bytes)")
                if time.monotonic() > deadline:  # a server trickling bytes evades the read timeout
                    raise FetchFailed(f"{host} did not send the page in time ({url[:200]})")
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"{host} did not send the page in time ({url[:200]})") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"the connection to {host} failed: {exc or type(exc).__name__}") from exc
    kind, _, params = response.headers.get("content-type", "").partition(";")
    charset = next((p.split("=", 1)[1].strip().strip('"') for p in params.split(";") if p.strip().lower().startswith("charset=")), None)
    return Fetched(url=url, status=status, content_type=kind.strip().lower(), charset=charset, body=bytes(body),
                   etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"))  # fmt: skip
