"""A small web site on loopback for the link and feed tests: pages, feeds, redirects, a slow page and
conditional requests (ETag and Last-Modified answered with 304), all real HTTP."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before each of the body's two halves: a slow server
    conditional: bool = False  # answer If-None-Match / If-Modified-Since with 304


class Site:
    """`site.pages[path] = Page(...)`; `site.url(path)`; `site.requests` lists (path, headers) received."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append((self.path, dict(self.headers)))
                page = site.pages.get(self.path)
                if page is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                etag = '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'
                modified = "Wed, 02 Dec 2026 10:00:00 GMT"
                given = self.headers.get("If-None-Match")  # it wins over If-Modified-Since (RFC 9110)
                if page.conditional and (given == etag if given else self.headers.get("If-Modified-Since") == modified):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                if page.conditional:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", modified)
                for k, v in page.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                half = len(page.body) // 2
                try:
                    for part in (page.body[:half], page.body[half:]):
                        time.sleep(page.delay_s)
                        self.wfile.write(part)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def __enter__(self) -> Site:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def news_page(*, title: str, paragraphs: list[str], canonical: str | None = None, published: str = "2026-11-30",
              author: str = "Mara Quell", site_name: str = "The Dunmore Courier") -> bytes:  # fmt: skip
    """A real-shaped article page: navigation, a cookie banner, ads, related links and reader comments
    around the article itself."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {site_name}</title>{link}
<meta property="og:title" content="{title}"><meta property="og:site_name" content="{site_name}">
<meta name="author" content="{author}"><meta property="article:published_time" content="{published}T08:00:00Z">
</head><body>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. Accept all cookies or manage your preferences.</div>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li>
<li><a href="/weather">Weather</a></li><li><a href="/subscribe">Subscribe</a></li></ul></nav></header>
<div class="ad advertisement">ADVERTISEMENT: Buy the new Zephyr 9 phone today, now with a bigger battery.</div>
<main><article><h1>{title}</h1><p class="byline">By {author}, {published}</p>
{body}
</article>
<aside class="related"><h2>Related stories</h2><ul><li><a href="/a">Council approves bin schedule</a></li>
<li><a href="/b">Harbour festival returns</a></li></ul></aside>
<section id="comments" class="comments"><h2>Comments</h2>
<div class="comment"><p>Reader Joe: This is the worst ferry decision the council ever made, I am furious about the pigeons.</p></div>
<div class="comment"><p>Reader Ann: Great news for the island, the pigeons will love it.</p></div></section></main>
<footer><p>Copyright 2026 The Dunmore Courier. All rights reserved. Privacy policy. Terms of use.</p></footer>
</body></html>""".encode()
