"""An in-memory snapshot of what is indexed: the articles, their chunks and the BM25 index over them.

Chroma is the source of truth. Whenever the registry changed (from this process or another one talking
to the same Chroma server) the snapshot follows it text by text: only new texts are read and counted,
and the BM25 side (qa.index.bm25) adds and drops their postings. What is computed per text is also kept
under the data directory (qa.index.cache), so a restart computes nothing it has seen before.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Container, Iterable, Mapping
from urllib.parse import urlsplit

import numpy as np

from qa.index.background import background
from qa.index.cache import PerText, TextCache, code_tag, text_key
from qa.index.fresh import Fresh
from qa.index.store import Store, StoredArticle
from qa.index.vocabulary import Tally, Vocabulary
from qa.schemas import uploaded
from qa.text import published_date, terms
from qa.text import words as text_words

if TYPE_CHECKING:
    from qa.schemas import Article, Filters
    from qa.index.bm25 import BM25


def fingerprint(articles: list[StoredArticle]) -> str:
    rows = sorted(f"{a.id}\t{a.hash}\t{a.article.title}" for a in articles)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Snapshot:
    articles: dict[str, StoredArticle]
    by_hash: dict[str, StoredArticle]
    bm25: "BM25 | None"
    # chunk_df, common_words and bm25 are shared with the next snapshot, which updates them in place (a
    # copy each write would cost as much as the recount it replaces): a question running across a write
    # may weigh a term with its new count, as it would a moment later.
    chunk_df: "Counter[str] | ChunkCounts" = field(default_factory=Counter)
    n_chunks: int = 0
    fingerprint: str = ""
    # Words the articles also write in lower case: "Tournament" is then a common noun, "Matsuyama" a name.
    common_words: "Container[str]" = frozenset()

    def idf(self, term: str) -> float:
        # The background's counts stand beside the index's own (qa.index.background): a term's weight
        # then barely moves when unrelated articles are added.
        bg = background()
        df = self.chunk_df.get(term, 0) + bg.df.get(term, 0)
        return math.log(1 + (self.n_chunks + bg.documents + 1) / (df + 0.5))

    @property
    def empty(self) -> bool:
        return not self.articles

    def within(self, filters: "Filters") -> list[StoredArticle]:
        """The articles within `filters`."""
        ids = set(filters.doc_ids or ())
        sources = {s.strip().lower() for s in filters.sources or ()}
        out = []
        for stored in self.articles.values():
            a = stored.article
            if ids and a.id not in ids:
                continue
            if sources and not sources & source_names(a):
                continue
            if filters.since or filters.until:
                day = published_date(a.published)
                if day is None or (filters.since and day < filters.since) or (filters.until and day > filters.until):
                    continue
            out.append(stored)
        return out

    def matching(self, filters: "Filters") -> frozenset[str]:
        """Content hashes of the articles within `filters` (retrieval searches only these)."""
        return frozenset(s.hash for s in self.within(filters))


def source_names(a: "Article") -> set[str]:
    """What a user may call an article's source: its path or file name, its site's name or host, its feed."""
    names = {a.source, a.site or "", a.feed or "", "uploaded" if uploaded(a.source) else ""}
    if "://" not in a.source:
        names.add(a.source.replace("\\", "/").rsplit("/", 1)[-1])
    if a.url:
        host = (urlsplit(a.url).hostname or "").lower()
        names |= {host, host.removeprefix("www.")}
    return {n.lower() for n in names if n}


_LOWER_WORD = re.compile(r"\b[a-z][a-z'\u2019-]+\b")


@dataclass(frozen=True)
class _Counted:
    """One text's share: its distinct terms with the number of its chunks holding each, and the words it
    writes in lower case."""

    key: str
    terms: Vocabulary
    chunks: np.ndarray  # int32, beside terms
    lower: Vocabulary
    n_chunks: int

    @classmethod
    def of(cls, texts: list[StoredArticle]) -> list["_Counted"]:
        out = []
        for stored in texts:
            whole, cut = stored.article.text, stored.layout.chunks
            held = Tally()
            for a, b in cut:
                held.add(set(terms(whole[a:b])))  # a chunk counts once
            words, ids = held.finish()
            chunks = np.bincount(ids, minlength=len(words)).astype(np.int32)
            del held, ids
            lower = Tally(numbered=False)  # in a pass of its own: two tallies at once set a big text's peak
            for a, b in cut:
                lower.add(set(_LOWER_WORD.findall(whole[a:b])))
            out.append(cls(text_key(stored), words, chunks, lower.words(), len(cut)))
        return out

    def parts(self) -> list[bytes | memoryview]:
        return [self.terms.encode(), self.chunks.data, self.lower.encode(), str(self.n_chunks).encode()]

    @classmethod
    def from_parts(cls, key: str, parts: list[bytes]) -> "_Counted | None":
        try:
            held, chunks, lower = Vocabulary.decode(parts[0]), np.frombuffer(parts[1], np.int32), Vocabulary.decode(parts[2])
            counted = cls(key, held, chunks, lower, int(parts[3]))
        except (ValueError, IndexError):  # a damaged row is counted again
            return None
        return counted if len(chunks) == len(held) else None

    def held(self) -> dict[str, int] | list[str]:
        """Each term with its count, in the form Counter.update takes fastest."""
        if not (self.chunks > 1).any():
            return list(self.terms)  # counted in C
        return dict(zip(self.terms, self.chunks.tolist()))


def _subtract(counter: Counter[str], items: Mapping[str, int] | Iterable[str]) -> None:
    counter.subtract(items)
    for key in items:
        if counter.get(key, 1) <= 0:
            del counter[key]


class Frequencies:
    """Chunk frequencies of terms (for idf) and the words written in lower case, over every text: kept
    per text (by content hash) and combined as texts come and go, never recounted over everything.
    A text of more words than qa.index.vocabulary.BIG keeps its own (compact) and is asked beside the
    Counters, not added to them."""

    def __init__(self, cache: TextCache | None = None) -> None:
        self.df: Counter[str] = Counter()
        self.lower: Counter[str] = Counter()  # word -> texts writing it in lower case
        self.n_chunks = 0
        # replaced, never changed in place: a question reads them while a write syncs
        self.big_terms: tuple[_Counted, ...] = ()
        self.big_lower: tuple[_Counted, ...] = ()
        # what is counted: qa.text.terms and _LOWER_WORD
        self._per_text = PerText(cache, "counts", code_tag(Path(__file__), Path(text_words.__file__)),
                                 build=_Counted.of, load=_Counted.from_parts)  # fmt: skip

    def sync(self, texts: Mapping[str, StoredArticle]) -> None:
        removed, added = self._per_text.sync(texts)
        gone = {id(c) for c in removed.values()}
        for c in removed.values():
            if not c.terms.compact:
                _subtract(self.df, c.held())
            if not c.lower.compact:
                _subtract(self.lower, c.lower)
            self.n_chunks -= c.n_chunks
        for c in added.values():
            if not c.terms.compact:
                self.df.update(c.held())  # mostly a list, counted in C: a restart adds every text
            if not c.lower.compact:
                self.lower.update(c.lower)
            self.n_chunks += c.n_chunks
        self.big_terms = (*(c for c in self.big_terms if id(c) not in gone), *(c for c in added.values() if c.terms.compact))
        self.big_lower = (*(c for c in self.big_lower if id(c) not in gone), *(c for c in added.values() if c.lower.compact))

    def chunks_holding(self, term: str) -> int:
        n = self.df.get(term, 0)
        for c in self.big_terms:
            if (i := c.terms.index(term)) >= 0:
                n += int(c.chunks[i])
        return n

    def written_lower(self, word: str) -> bool:
        return word in self.lower or any(word in c.lower for c in self.big_lower)


@dataclass(frozen=True)
class ChunkCounts:
    """Snapshot.chunk_df over Frequencies: `get` as a Counter's."""

    of: Frequencies

    def get(self, term: str, default: int = 0) -> int:
        return self.of.chunks_holding(term) or default


@dataclass(frozen=True)
class LowerWords:
    """Snapshot.common_words over Frequencies: membership only."""

    of: Frequencies

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.of.written_lower(word)


class Index:
    """Holds the current Snapshot; swaps it atomically so readers never see half an update of the
    articles (the counts and BM25 postings they share are updated in place: see Snapshot)."""

    def __init__(self, store: Store, *, cache_dir: Path, candidates: int, check_every_s: float = 1.0) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.candidates = candidates
        self.check_every_s = check_every_s
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._cache = TextCache(cache_dir)
        self._frequencies = Frequencies(self._cache)
        self._bm25: "BM25 | None" = None  # built at the first snapshot: a listing never imports LlamaIndex
        self.fresh = Fresh()  # sentences of texts another process wrote, until the client is reopened

    def snapshot(self) -> Snapshot:
        """The current snapshot; notices writes by other processes at most every `check_every_s`."""
        now = time.monotonic()
        if self._snapshot is None or now - self._checked_at > self.check_every_s:
            with self.store.reading():
                changed = self.store.sync()
                if self._snapshot is None or changed:
                    try:
                        self.refresh()
                    except BaseException:
                        self.store.forget()  # not loaded: the next check must see the change again
                        raise
            self._checked_at = now
        assert self._snapshot is not None
        return self._snapshot

    @property
    def loaded(self) -> bool:
        """Whether a snapshot has been built (a server, or a question asked)."""
        return self._snapshot is not None

    def articles(self) -> dict[str, StoredArticle]:
        """What is indexed; read straight from the store while no snapshot is loaded, so a one-shot
        listing (`qa docs list`) does not build the BM25 index it will never search."""
        if self._snapshot is None:
            with self.store.reading():
                return {a.id: a for a in self.store.load()}
        return self.snapshot().articles

    def refresh(self, *, reopen_from: int | None = None) -> Snapshot:
        """Reload the registry. `reopen_from`: a question found the store of that generation stale, so
        reopen it first (unless another thread already has)."""
        with self._lock, self.store.reading():
            if reopen_from is not None:
                self.store.reopen(seen=reopen_from)
            # only texts new since the last snapshot are read in full
            articles = self.store.load_changed(self._snapshot.articles if self._snapshot is not None else {})
            self.store.tidy(articles)  # leftovers of a write that died would crowd out real sentences
            self.store.settle(articles)  # another process wrote much: a fresh client, not a long exact search
            self.fresh.forget({a.hash for a in articles if not self.store.holds(a.hash)})
            fp = fingerprint(articles)
            if self._snapshot is None or self._snapshot.fingerprint != fp:
                self._snapshot = self._build(articles, fp)
            self._checked_at = time.monotonic()
            return self._snapshot

    def _build(self, articles: list[StoredArticle], fp: str) -> Snapshot:
        by_hash = {a.hash: a for a in articles}
        try:
            self._frequencies.sync(by_hash)
            if self._bm25 is None:
                from qa.index.bm25 import BM25

                self._bm25 = BM25(cache=self._cache, similarity_top_k=self.candidates)
            self._bm25.sync(by_hash)
        except BaseException:  # half applied: the next snapshot starts over (from the BM25 cache on disk)
            self._snapshot, self._frequencies, self._bm25 = None, Frequencies(self._cache), None
            raise
        f = self._frequencies
        return Snapshot(
            articles={a.id: a for a in articles},
            by_hash=by_hash,
            bm25=self._bm25 if articles else None,
            chunk_df=ChunkCounts(f),
            n_chunks=f.n_chunks,
            fingerprint=fp,
            common_words=LowerWords(f),
        )
