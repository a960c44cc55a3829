"""Feeds followed: RSS 2.0 and Atom (feedparser) and JSON Feed, their records kept beside the index
(a `<prefix>-feeds` collection, so every server on one index shares them), and a refresh that fetches
only what is new: conditional requests, entries already seen skipped, back-off after failures, and a
lease so two servers never refresh one feed at the same time."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from pydantic import BaseModel, Field

from qa.config import Settings
from qa.errors import BadInput, NotAnArticle, NotFound, QAError
from qa.ingest.fetch import HostPacer, check_link, fetch
from qa.ingest.links import canonical, fetch_article, link_id
from qa.schemas import Article, IngestReport

SEEN_KEPT = 2000  # entry keys remembered per feed: far more than any feed lists at once
LEASE_S = 600  # a refresh that has not finished in this long has died; another server may take over
LEASE_SETTLE_S = 0.3
_PLACEHOLDER = [1.0]  # looked up by id only; Chroma still wants a vector


class BadFeed(NotAnArticle):
    code = "bad_feed"


class FeedInfo(BaseModel):
    """A followed feed and the outcome of its last fetch."""

    id: str
    url: str
    name: str
    added: str = Field(description="When it was added (UTC, ISO 8601).")
    last_fetch: str | None = Field(None, description="When it was last fetched (UTC, ISO 8601).")
    last_outcome: str | None = Field(None, description="`ok`, `not modified`, or what failed.")
    last_new: int = Field(0, description="Articles the last refresh added or updated.")
    articles: int = Field(0, description="Articles added from it so far.")
    failures: int = Field(0, description="Failed fetches in a row; refreshes back off after each.")
    next_try: str | None = Field(None, description="While backing off: the earliest next refresh.")


class _Record(FeedInfo):
    etag: str | None = None
    last_modified: str | None = None
    seen: list[str] = Field(default_factory=list)
    lease_until: float = 0.0
    lease_owner: str = ""

    def info(self) -> FeedInfo:
        return FeedInfo(**self.model_dump(include=set(FeedInfo.model_fields)))


@dataclass
class Entry:
    key: str  # the entry's id, else its link
    link: str | None
    title: str
    published: str | None
    text: str  # the feed's own whole article (not a summary), plain text; used when the page has none


@dataclass
class ParsedFeed:
    title: str
    entries: list[Entry]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(t: dt.datetime) -> str:
    return t.replace(microsecond=0).isoformat()


# ---------------------------------------------------------------- parsing


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """RSS, Atom or JSON Feed -> its entries, newest first; BadFeed when it is none of them."""
    if "json" in content_type or body.lstrip()[:1] == b"{":
        return _json_feed(body, url)
    import feedparser  # slow import; only paid by commands that read feeds

    parsed = feedparser.parse(body)
    why = getattr(parsed.get("bozo_exception"), "getMessage", lambda: "")() or "not RSS or Atom"
    if not parsed.get("version"):
        raise BadFeed(f"{url[:200]} is not a readable feed ({why})")
    entries = []
    for e in parsed.entries:
        link = e.get("link")
        # the whole article, when the feed carries it (content:encoded, Atom content); a summary is a teaser
        content = " ".join(c.get("value", "") for c in e.get("content", []))
        stamp = e.get("published_parsed") or e.get("updated_parsed")
        published = dt.date(*stamp[:3]).isoformat() if stamp else None
        key = e.get("id") or link
        if key:
            entries.append(Entry(key=key, link=link, title=e.get("title", ""), published=published, text=_plain(content)))
    if parsed.get("bozo") and not entries:  # broken, and nothing readable in it (a slightly malformed feed is read)
        raise BadFeed(f"{url[:200]} is not a readable feed ({why})")
    return ParsedFeed(title=parsed.feed.get("title", "") or url, entries=_newest_first(entries))


def _json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadFeed(f"{url[:200]} is not a readable feed (malformed JSON)") from exc
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")) or not isinstance(data.get("items"), list):
        raise BadFeed(f"{url[:200]} is not a readable feed (JSON, but not a JSON Feed)")
    entries = []
    for item in data["items"]:
        if not isinstance(item, dict):
            continue
        link = item.get("url") if isinstance(item.get("url"), str) else None
        key = str(item.get("id") or link or "")
        text = item.get("content_text") or _plain(str(item.get("content_html") or ""))
        published = str(item.get("date_published") or "")[:10] or None
        if key:
            entries.append(Entry(key=key, link=link, title=str(item.get("title") or ""), published=published, text=str(text)))
    return ParsedFeed(title=str(data.get("title") or url), entries=_newest_first(entries))


def _newest_first(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: e.published or "", reverse=True)


def _plain(fragment: str) -> str:
    if "<" not in fragment:
        return fragment.strip()
    import lxml.html

    try:
        return lxml.html.fromstring(f"<div>{fragment}</div>").text_content().strip()
    except (ValueError, TypeError):
        return ""


# ---------------------------------------------------------------- records


class FeedStore:
    """Feed records in the index's own Chroma (embedded or server), one JSON document each."""

    def __init__(self, client: Callable[[], object], prefix: str):
        self._client, self._name = client, f"{prefix}-feeds"

    def _collection(self, *, create: bool = False):
        """The collection, made by the first feed followed (each collection holds files open: none without feeds)."""
        from chromadb.errors import NotFoundError

        client = self._client()
        if create:
            return client.get_or_create_collection(self._name, embedding_function=None)
        try:
            return client.get_collection(self._name, embedding_function=None)
        except NotFoundError:
            return None

    def all(self) -> list[_Record]:
        collection = self._collection()
        got = collection.get(include=["documents"]) if collection is not None else {"documents": []}
        return sorted((_Record.model_validate_json(d) for d in got["documents"]), key=lambda r: r.added)

    def get(self, feed_id: str) -> _Record:
        collection = self._collection()
        got = collection.get(ids=[feed_id], include=["documents"]) if collection is not None else {"ids": []}
        if not got["ids"]:
            raise NotFound(f"no feed with id {feed_id!r}")
        return _Record.model_validate_json(got["documents"][0])

    def put(self, record: _Record) -> None:
        self._collection(create=True).upsert(ids=[record.id], embeddings=[_PLACEHOLDER], documents=[record.model_dump_json()])

    def delete(self, feed_id: str) -> None:
        self.get(feed_id)
        self._collection(create=True).delete(ids=[feed_id])


# ---------------------------------------------------------------- following


class Feeds:
    """Add, list, remove and refresh feeds. `add_articles` indexes (the library's writer, which takes the
    index's write turn); `writing` is that turn, held only while a record changes."""

    def __init__(self, settings: Settings, store: FeedStore, *, add_articles: Callable[[Sequence[Article]], IngestReport],
                 writing: Callable[[], AbstractContextManager]) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self._add = add_articles
        self._writing = writing
        self.pacer = HostPacer(settings.fetch.host_interval_s)

    def list(self) -> list[FeedInfo]:
        return [r.info() for r in self.store.all()]

    def add(self, url: str, *, name: str | None = None) -> tuple[FeedInfo, bool]:
        """Follow a feed: fetched and read first, so a link that is not a feed is refused and nothing is
        kept. Returns the record and whether it is new (the same feed added twice is one)."""
        fetched = fetch(check_link(url), self.settings.fetch, max_bytes=self.settings.ingest.max_file_bytes)
        parsed = parse_feed(fetched.body, url=fetched.url, content_type=fetched.content_type)
        link = canonical(url)
        feed_id = link_id(link)
        with self._writing():
            try:
                return self.store.get(feed_id).info(), False
            except NotFound:
                pass
            record = _Record(id=feed_id, url=link, name=(name or parsed.title or link).strip()[:200], added=_iso(_now()))
            self.store.put(record)
        return record.info(), True

    def remove(self, feed_id: str) -> None:
        """Stop following a feed; the articles it brought stay (delete them as any other)."""
        with self._writing():
            self.store.delete(feed_id)

    def refresh(self, ids: Sequence[str] | None = None, *, force: bool = False, due_only: bool = False) -> list[FeedInfo]:
        """Fetch each feed (all, or `ids`) and index its new entries. Skipped: a feed another process is
        refreshing, one backing off after failures (unless `force`), and with `due_only` one fetched
        less than a refresh interval ago (another server did it)."""
        out = []
        for feed_id in ids if ids is not None else [r.id for r in self.store.all()]:
            record = self._claim(feed_id, force=force, due_only=due_only)
            if record is None:
                out.append(self.store.get(feed_id).info())
                continue
            out.append(self._refresh(record).info())
        return out

    def _claim(self, feed_id: str, *, force: bool, due_only: bool) -> _Record | None:
        with self._writing():
            record = self.store.get(feed_id)
            now = _now()
            if record.lease_until > time.time():
                return None
            if not force and record.next_try and dt.datetime.fromisoformat(record.next_try) > now:
                return None
            interval = dt.timedelta(minutes=self.settings.feeds.refresh_minutes * 0.9)
            if due_only and record.last_fetch and dt.datetime.fromisoformat(record.last_fetch) + interval > now:
                return None
            record.lease_until, record.lease_owner = time.time() + LEASE_S, uuid.uuid4().hex
            self.store.put(record)
        # On one data directory the write turn is a lock across processes; on a Chroma server it is not,
        # so the last lease written wins: read it back once every rival has had time to write its own.
        time.sleep(LEASE_SETTLE_S)
        return record if self.store.get(feed_id).lease_owner == record.lease_owner else None

    def _refresh(self, record: _Record) -> _Record:
        new = 0
        try:
            fetched = fetch(record.url, self.settings.fetch, max_bytes=self.settings.ingest.max_file_bytes,
                            etag=record.etag, last_modified=record.last_modified, pacer=self.pacer)  # fmt: skip
            if fetched.not_modified:
                outcome = "not modified"
            else:
                parsed = parse_feed(fetched.body, url=fetched.url, content_type=fetched.content_type)
                new, failed = self._take(record, parsed.entries)
                outcome = "ok" if not failed else f"ok; {failed}"
                record.etag, record.last_modified = fetched.etag, fetched.last_modified
            record.failures, record.next_try = 0, None
        except QAError as err:
            record.failures += 1
            backoff = min(self.settings.feeds.refresh_minutes or 30, 60) * 2 ** min(record.failures - 1, 5)
            record.next_try = _iso(_now() + dt.timedelta(minutes=min(backoff, 24 * 60)))
            outcome = f"failed: {err}"
        record.last_fetch, record.last_outcome, record.last_new = _iso(_now()), outcome[:500], new
        record.articles += new
        record.lease_until, record.lease_owner = 0.0, ""
        with self._writing():
            try:
                self.store.get(record.id)  # not removed meanwhile: a refresh never brings it back
            except NotFound:
                return record
            self.store.put(record)
        return record

    def _take(self, record: _Record, entries: list[Entry]) -> tuple[int, str]:
        """Index the entries not seen before (the newest `max_entries`); a page that fails is retried at
        the next refresh, the others are kept."""
        seen = set(record.seen)
        fresh = [e for e in entries if e.key not in seen][: self.settings.feeds.max_entries]
        articles, errors = [], []
        for entry in fresh:
            try:
                articles.append(self._article(record, entry))
                record.seen.append(entry.key)
            except QAError as err:
                errors.append(str(err))
        report = self._add(articles) if articles else IngestReport()
        record.seen = record.seen[-SEEN_KEPT:]
        failed = f"{len(errors)} of {len(fresh)} entries failed (first: {errors[0]})" if errors else ""
        return len(report.added) + len(report.updated), failed

    def _article(self, record: _Record, entry: Entry) -> Article:
        fallback = {"published": entry.published, "title": entry.title, "text": entry.text}
        if not entry.link:
            raise BadInput(f"entry {entry.key[:100]!r} has no link")
        return fetch_article(entry.link, self.settings, pacer=self.pacer, feed=record.id, fallback=fallback)
