"""What the snapshot computes from each text (BM25 postings, chunk frequencies), kept on disk so that a
restart computes only what it has not seen: SQLite, a row per text and kind. Only a shortcut: a read or
write that fails counts as a miss (logged), and a row that does not decode is computed again."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generic, Iterable, Mapping, Protocol, TypeVar

if TYPE_CHECKING:
    from qa.index.store import StoredArticle

log = logging.getLogger(__name__)
_BATCH = 500  # keys a query (SQLite allows some thousands of variables)
R = TypeVar("R")


def text_key(stored: "StoredArticle") -> str:
    """What a text's rows depend on: the text (its hash), and the title and chunks its chunk nodes carry."""
    cut = hashlib.sha256(f"{stored.article.title}\0{stored.layout.chunks}".encode()).hexdigest()[:16]
    return f"{stored.hash}:{cut}"


def code_tag(*parts: str | Path) -> str:
    """Names the code (source files, library versions) that computed a row: other code computes it again."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes() if isinstance(part, Path) else part.encode())
    return digest.hexdigest()[:12]


def _header(sizes: list[int]) -> bytes:
    return struct.pack(f"<I{len(sizes)}Q", len(sizes), *sizes)


def unpack(blob: bytes) -> list[bytes] | None:
    try:
        (n,) = struct.unpack_from("<I", blob)
        sizes = struct.unpack_from(f"<{n}Q", blob, 4)
    except struct.error:
        return None
    at, parts = 4 + 8 * n, []
    for size in sizes:
        parts.append(blob[at : at + size])
        at += size
    return parts if at == len(blob) else None


class TextCache:
    """The rows of one index (its BM25 directory), in one SQLite file that processes on it share."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "texts.sqlite3"
        self._db: sqlite3.Connection | None = None  # kept open: a connection a call cost as much as the write
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():  # what an earlier version kept here (bm25s's files) goes
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for old in self.path.parent.iterdir():
                if old.is_file():
                    old.unlink(missing_ok=True)
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a cache: a power cut may cost the last rows, never the file
        db.execute("CREATE TABLE IF NOT EXISTS texts (key TEXT PRIMARY KEY, blob BLOB)")
        return db

    def _run(self, what: str, work: Callable[[sqlite3.Connection], R], failed: R) -> R:
        """`work` in one transaction; `failed` if the cache cannot be used (read-only, full, damaged)."""
        with self._lock:
            try:
                if self._db is None:
                    self._db = self._open()
                with self._db:
                    return work(self._db)
            except (sqlite3.Error, OSError) as err:
                log.info("cache of %s not %s: %s", self.path.parent, what, err)
                if self._db is not None:
                    self._db.close()
                    self._db = None  # opened again at the next call
                return failed

    def get(self, kind: str, tag: str, keys: list[str]) -> dict[str, list[bytes]]:
        """The rows of `kind` computed by the code `tag` names, for these text keys (by text key)."""

        def read(db: sqlite3.Connection) -> dict[str, list[bytes]]:
            out: dict[str, list[bytes]] = {}
            for k in range(0, len(keys), _BATCH):
                part = [f"{kind}/{tag}/{key}" for key in keys[k : k + _BATCH]]
                rows = db.execute(f"SELECT key, blob FROM texts WHERE key IN ({','.join('?' * len(part))})", part)
                out |= {key.rsplit("/", 1)[1]: parts for key, blob in rows if (parts := unpack(blob)) is not None}
            return out

        return self._run("read", read, {})

    def update(self, kind: str, tag: str, put: Mapping[str, list[bytes | memoryview]], drop: Iterable[str] = (),
               keep: set[str] | None = None) -> None:  # fmt: skip
        """Store `put` and forget `drop` (by text key); with `keep`, also every row of `kind` but those of
        its texts computed by this code."""

        def write(db: sqlite3.Connection) -> None:
            for k, parts in put.items():
                # written part by part into a blob of its size: a row joined first, and SQLite's copy of
                # it, cost a 4.9 MB article's 15 MB row twice over at once
                sizes = [memoryview(p).nbytes for p in parts]
                head = _header(sizes)
                row = db.execute("INSERT OR REPLACE INTO texts VALUES (?, zeroblob(?))", (f"{kind}/{tag}/{k}", len(head) + sum(sizes))).lastrowid
                with db.blobopen("texts", "blob", row) as blob:
                    for part in (head, *parts):
                        blob.write(part)
            stale = {f"{kind}/{tag}/{k}" for k in drop}
            if keep is not None:
                wanted = {f"{kind}/{tag}/{k}" for k in keep}
                stale |= {k for (k,) in db.execute("SELECT key FROM texts WHERE key LIKE ?", (f"{kind}/%",))} - wanted
            db.executemany("DELETE FROM texts WHERE key = ?", ((k,) for k in stale))

        self._run("saved", write, None)


class Computed(Protocol):
    key: str  # the text_key of the text it was computed from

    def parts(self) -> list[bytes | memoryview]: ...  # views of arrays are written without a copy


T = TypeVar("T", bound=Computed)


class PerText(Generic[T]):
    """What is computed from each text, by content hash. `sync()` says what to take away and what to add
    to match another set of texts; new texts' results are read from the cache, or computed and stored."""

    def __init__(
        self, cache: TextCache | None, kind: str, tag: str, *,
        build: Callable[[list["StoredArticle"]], list[T]], load: Callable[[str, list[bytes]], T | None],
    ) -> None:  # fmt: skip
        self.cache, self.kind, self.tag = cache, kind, tag
        self._build, self._load = build, load
        self.items: dict[str, T] = {}
        self._texts: Mapping[str, "StoredArticle"] = {}

    def sync(self, texts: Mapping[str, "StoredArticle"]) -> tuple[dict[str, T], dict[str, T]]:
        """(removed, added), by hash; `texts` must not change afterwards (an unchanged text is the same object)."""
        keys = {h: text_key(s) for h, s in texts.items() if self._texts.get(h) is not s}
        gone = [h for h, item in self.items.items() if h not in texts or keys.get(h, item.key) != item.key]
        new = {h: k for h, k in keys.items() if h not in self.items or self.items[h].key != k}
        rows = self.cache.get(self.kind, self.tag, list(new.values())) if self.cache and new else {}
        found = {k: item for k, parts in rows.items() if (item := self._load(k, parts)) is not None}
        made = {item.key: item for item in self._build([texts[h] for h, k in new.items() if k not in found])}
        first = not self.items  # a restart: rows of texts gone meanwhile go too
        if self.cache and (made or gone or first):
            put, drop = {k: item.parts() for k, item in made.items()}, [self.items[h].key for h in gone]
            self.cache.update(self.kind, self.tag, put, drop, set(new.values()) if first else None)
        removed = {h: self.items.pop(h) for h in gone}
        added = {h: found[k] if k in found else made[k] for h, k in new.items()}
        self.items |= added
        self._texts = texts
        return removed, added
