"""An in-memory snapshot of what is indexed: the articles, their chunks and the BM25 index over them.

Chroma is the source of truth. The BM25 side is rebuilt from it whenever the registry's content
changed (from this process or another one talking to the same Chroma server) and is persisted under
the data directory, keyed by a fingerprint, so a restart loads it instead of rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qa.index.store import Store, StoredArticle
from qa.text import terms

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

log = logging.getLogger(__name__)


def chunk_id(content_hash: str, k: int) -> str:
    return f"{content_hash}:c{k}"


def chunk_node(stored: StoredArticle, k: int) -> "TextNode":
    from llama_index.core.schema import TextNode

    start, end = stored.chunk(k)
    return TextNode(
        id_=chunk_id(stored.hash, k),
        text=stored.article.text[start:end],
        start_char_idx=start,
        end_char_idx=end,
        metadata={"title": stored.article.title, "doc_id": stored.id, "hash": stored.hash, "chunk": k},
        # the title helps both retrievers; ids and numbers are noise
        excluded_embed_metadata_keys=["doc_id", "hash", "chunk"],
        excluded_llm_metadata_keys=["doc_id", "hash", "chunk"],
    )


def fingerprint(articles: list[StoredArticle]) -> str:
    rows = sorted(f"{a.id}\t{a.hash}\t{a.article.title}" for a in articles)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Snapshot:
    articles: dict[str, StoredArticle]
    by_hash: dict[str, StoredArticle]
    bm25: "BM25Retriever | None"
    chunk_df: Counter[str] = field(default_factory=Counter)
    n_chunks: int = 0
    fingerprint: str = ""
    # Words the articles also write in lower case: "Tournament" is then a common noun, "Matsuyama" a name.
    common_words: frozenset[str] = frozenset()

    def idf(self, term: str) -> float:
        return math.log(1 + (self.n_chunks + 1) / (self.chunk_df.get(term, 0) + 0.5))

    @property
    def empty(self) -> bool:
        return not self.articles


_LOWER_WORD = re.compile(r"\b[a-z][a-z'\u2019-]+\b")


def _document_frequencies(articles: list[StoredArticle]) -> tuple[Counter[str], int, frozenset[str]]:
    df: Counter[str] = Counter()
    lower: set[str] = set()
    n = 0
    for stored in articles:
        for start, end in stored.layout.chunks:
            text = stored.article.text[start:end]
            df.update(set(terms(text)))
            lower.update(_LOWER_WORD.findall(text))
            n += 1
    return df, n, frozenset(lower)


class Index:
    """Holds the current Snapshot; swaps it atomically so readers never see half an update."""

    def __init__(self, store: Store, *, cache_dir: Path, candidates: int, check_every_s: float = 1.0) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.candidates = candidates
        self.check_every_s = check_every_s
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

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
            articles = self.store.load()
            self.store.tidy(articles)  # leftovers of a write that died would crowd out real sentences
            fp = fingerprint(articles)
            if self._snapshot is None or self._snapshot.fingerprint != fp:
                self._snapshot = self._build(articles, fp)
            self._checked_at = time.monotonic()
            return self._snapshot

    def _build(self, articles: list[StoredArticle], fp: str) -> Snapshot:
        df, n, lower = _document_frequencies(articles)
        return Snapshot(
            articles={a.id: a for a in articles},
            by_hash={a.hash: a for a in articles},
            bm25=self._bm25(articles, fp) if articles else None,
            chunk_df=df,
            n_chunks=n,
            fingerprint=fp,
            common_words=lower,
        )

    def _bm25(self, articles: list[StoredArticle], fp: str) -> "BM25Retriever":
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
        stamp = self.cache_dir / "fingerprint.json"
        if stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") == fp:
            try:
                retriever = BM25Retriever.from_persist_dir(str(self.cache_dir), show_progress=False)
                retriever.similarity_top_k = min(self.candidates, len(retriever.corpus))
                return retriever
            except Exception as err:  # a damaged cache is rebuilt, never trusted
                log.warning("rebuilding the BM25 cache: %s", err)
        nodes = [chunk_node(a, k) for a in articles for k in range(len(a.layout.chunks))]
        retriever = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(self.candidates, len(nodes)))
        self._persist(retriever, fp)
        return retriever

    def _persist(self, retriever: "BM25Retriever", fp: str) -> None:
        # Write beside, then swap, so a crash never leaves a half-written cache under the real name.
        # Each process writes its own, as two servers on one data directory may rebuild at once.
        tmp = self.cache_dir.with_name(f"{self.cache_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            tmp.mkdir(parents=True)
            retriever.persist(str(tmp), show_progress=False)
            (tmp / "fingerprint.json").write_text(json.dumps({"fingerprint": fp}))
            shutil.rmtree(self.cache_dir, ignore_errors=True)
            tmp.rename(self.cache_dir)
        except OSError as err:  # another process swapped its own in first: the cache is only a shortcut
            log.info("BM25 cache not saved: %s", err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
