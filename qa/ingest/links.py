"""An article from its link: fetched (qa.ingest.fetch), the page's article extracted with trafilatura
(text, title, date, author, site name, canonical URL), a PDF read as a file is. The canonical URL is
the article's identity, so the same story reached by two links is one article."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from qa.config import Settings
from qa.errors import BadInput, NotAnArticle, NotText
from qa.ingest.fetch import Fetched, HostPacer, check_link, fetch
from qa.ingest.fields import article_from_fields, slugify
from qa.ingest.formats import extract_html, without_headline
from qa.ingest.readers import parse_bytes
from qa.schemas import FIELD_LIMITS, Article

MIN_WORDS = 40  # below this a page's "main text" is a stub: a paywall teaser, a login form, a cookie notice
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml")
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid)$", re.IGNORECASE)


def canonical(url: str) -> str:
    """One spelling of a link: lower-case scheme and host, no default port, fragment or tracking parameters."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def link_id(url: str) -> str:
    """A readable, stable id from a canonical URL: host and path as a slug."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    port = f"-{parts.port}" if parts.port else ""
    return slugify(f"{host}{port}{parts.path}{'-' + parts.query if parts.query else ''}")


def fetch_article(url: str, settings: Settings, *, pacer: HostPacer | None = None, feed: str | None = None,
                  fallback: dict | None = None) -> Article:  # fmt: skip
    """The article at `url`; one-line errors for everything else. `fallback`: fields a feed entry gives
    (its date, or its whole text when the page has none)."""
    fetched = fetch(check_link(url), settings.fetch, max_bytes=settings.ingest.max_file_bytes, pacer=pacer)
    return article_from_page(fetched, feed=feed, fallback=fallback)


def article_from_page(fetched: Fetched, *, feed: str | None = None, fallback: dict | None = None) -> Article:
    fallback = fallback or {}
    kind = fetched.content_type
    if kind == "application/pdf" or fetched.body[:5] == b"%PDF-":
        article = parse_bytes(fetched.body, name="page.pdf", source=fetched.url, max_bytes=len(fetched.body) + 1).articles[0]
        url = canonical(fetched.url)
        return article.model_copy(update={"id": link_id(url), "source": url, "url": url, "id_given": True, "feed": feed,
                                          "published": article.published or fallback.get("published")})  # fmt: skip
    if kind in FEED_TYPES or (kind in ("application/xml", "text/xml") and b"<html" not in fetched.body[:2000].lower()):
        raise BadInput(f"{fetched.url[:200]} is a news feed, not an article: follow it with `qa feeds add` or POST /api/feeds")
    if kind and kind not in HTML_TYPES and not kind.startswith("text/"):
        raise NotText(f"{fetched.url[:200]} is {kind}, not a web page or a PDF")
    return _from_html(_decoded(fetched), fetched.url, feed=feed, fallback=fallback)


def _decoded(fetched: Fetched) -> str:
    for charset in (fetched.charset, _meta_charset(fetched.body), "utf-8"):
        if charset:
            try:
                return fetched.body.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
    return fetched.body.decode("utf-8", errors="replace")  # a page with one bad byte is still readable


def _meta_charset(body: bytes) -> str | None:
    found = re.search(rb"<meta[^>]{0,200}charset=[\"']?([\w-]{1,40})", body[:4096], re.IGNORECASE)
    return found.group(1).decode("ascii") if found else None


def _from_html(page: str, url: str, *, feed: str | None, fallback: dict) -> Article:
    doc = extract_html(page, url=url, precise=True)
    text = (getattr(doc, "text", None) or "").strip()
    if len(text.split()) < MIN_WORDS:
        whole = (fallback.get("text") or "").strip()  # a feed entry that carries the whole article
        if len(whole.split()) < MIN_WORDS:
            what = "a login page" if re.search(r"<input[^>]+type=[\"']?password", page, re.IGNORECASE) else "no article text"
            raise NotAnArticle(f"{url[:200]} is not an article ({what}: a paywall, a login page or a list of links?)")
        text = whole
    title = (getattr(doc, "title", None) or fallback.get("title") or "").strip()
    link = _canonical_of(getattr(doc, "url", None), url)
    return article_from_fields(
        doc_id=link_id(link), id_given=True, title=title[: FIELD_LIMITS["title"]], text=without_headline(text, title), source=link,
        url=link, published=getattr(doc, "date", None) or fallback.get("published"),
        author=_short(getattr(doc, "author", None), "author"), site=_short(getattr(doc, "sitename", None), "site"), feed=feed,
    )  # fmt: skip


def _canonical_of(declared: str | None, fetched_url: str) -> str:
    """The page's declared canonical link when it is an http(s) link on the same site, else the link fetched."""
    if declared:
        try:
            declared = check_link(declared)
        except BadInput:
            declared = None
    same_site = declared and _site(declared) == _site(fetched_url)
    return canonical(declared if same_site else fetched_url)


def _site(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def _short(value: str | None, field: str) -> str | None:
    return value[: FIELD_LIMITS[field]] if value else None
