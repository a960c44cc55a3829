"""BM25 over chunks, updated text by text.

LlamaIndex's BM25Retriever (bm25s) scores every chunk for every term when it is built, so each write
rebuilt it whole: with two large articles indexed, some ten seconds a write. This keeps each text's
postings (for each term, the chunks holding it and how often) apart, adds and drops them as texts come
and go, and scores at question time as bm25s would have: its tokenizer (English stopwords, Snowball
stemmer), Lucene's formula with k1 1.5 and b 0.75, its float32 rounding and summing order. Scores and
ranking are the same (tests/test_bm25.py); ties go by (hash, chunk), and only chunks scoring above 0
are returned.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from array import array
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import AbstractSet, Mapping

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from qa.index import passages
from qa.index.cache import PerText, TextCache, code_tag, text_key
from qa.index.store import StoredArticle
from qa.index.vocabulary import Tally, Vocabulary

K1, B = 1.5, 0.75  # bm25s's defaults, which BM25Retriever keeps
_PATTERN = r"(?u)\b\w\w+\b"
_TOKENIZE_CHUNKS = 128  # chunks tokenized a call: 512 held some 16 MB at once for made-up words, and were no faster
_COLUMNS = 10_000  # terms whose postings, merged over many texts, are kept between questions


@functools.cache
def _bm25s():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
    return bm25s


def tokenize(texts: list[str]) -> list[list[str]]:
    """As BM25Retriever tokenizes chunks and questions. Many texts a call: each call has a fixed cost."""
    import Stemmer

    # a stemmer each call: one PyStemmer object is not safe to share between threads
    return _bm25s().tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), token_pattern=_PATTERN,
                             return_ids=False, show_progress=False)  # fmt: skip


@dataclass(frozen=True)
class Postings:
    """One text: term `terms[i]` is in chunks `chunks[at[i]:at[i + 1]]`, `tfs[...]` times in each."""

    key: str
    terms: Vocabulary
    at: np.ndarray  # int64
    chunks: np.ndarray  # int32
    tfs: np.ndarray  # float32, as bm25s counts
    lengths: np.ndarray  # int32: tokens in each chunk

    @classmethod
    def of(cls, texts: list[StoredArticle]) -> list["Postings"]:
        """Every chunk node's text as BM25Retriever reads it (title included), tokenized some hundred chunks
        a call: each call has a fixed cost, and a big text's tokens held at once took some 50 MB for 5 MB."""
        counts = [_Counts(stored) for stored in texts]
        batch: list[tuple[_Counts, str]] = []

        def tokenize_batch() -> None:
            for (into, _), doc in zip(batch, tokenize([text for _, text in batch])):
                into.add(doc)
            batch.clear()

        for into in counts:
            for k in range(len(into.stored.layout.chunks)):
                batch.append((into, passages.chunk_node(into.stored, k).get_content(metadata_mode=MetadataMode.EMBED)))
                if len(batch) >= _TOKENIZE_CHUNKS:
                    tokenize_batch()
        if batch:
            tokenize_batch()
        return [into.postings() for into in counts]

    def parts(self) -> list[bytes | memoryview]:
        return [self.terms.encode(), *(a.data for a in (self.at, self.chunks, self.tfs, self.lengths))]

    @classmethod
    def from_parts(cls, key: str, parts: list[bytes]) -> "Postings | None":
        if len(parts) != 5:
            return None
        dtypes = (np.int64, np.int32, np.float32, np.int32)
        try:
            terms = Vocabulary.decode(parts[0])
            at, chunks, tfs, lengths = (np.frombuffer(b, t) for b, t in zip(parts[1:], dtypes))
        except ValueError:  # UnicodeDecodeError too
            return None
        whole = len(at) == len(terms) + 1 and at[-1] == len(chunks) == len(tfs) and (chunks < len(lengths)).all()
        return cls(key, terms, at, chunks, tfs, lengths) if whole else None  # a damaged row is computed again


class _Counts:
    """One text's tokens as they are read, tallied (qa.index.vocabulary.Tally), and each chunk's length."""

    def __init__(self, stored: StoredArticle) -> None:
        self.stored = stored
        self.words = Tally()
        self.lengths = array("i")

    def add(self, doc: list[str]) -> None:
        self.words.add(doc)
        self.lengths.append(len(doc))

    def postings(self) -> Postings:
        terms, keys = self.words.finish()
        lengths = np.frombuffer(self.lengths, dtype=np.int32).copy()
        n = max(len(lengths), 1)
        # (term, chunk) pairs made and sorted in place, counted as runs: np.unique's copies of every
        # token were the peak of a big upload
        keys *= n
        keys += np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        keys.sort()
        first = np.concatenate((np.ones(min(len(keys), 1), bool), keys[1:] != keys[:-1]))  # a run starts
        starts = np.flatnonzero(first)
        tfs = np.empty(len(starts), np.float32)  # each run's length, without an int64 copy of them
        np.subtract(starts[1:], starts[:-1], out=tfs[:-1], casting="unsafe")
        tfs[-1:] = len(keys) - starts[-1:]
        del starts  # freed before the mask takes the pairs: each is as long as the runs
        keys = keys[first]
        del first
        chunks = np.empty(len(keys), np.int32)
        np.remainder(keys, n, out=chunks, casting="unsafe")  # each pair's chunk, without an int64 copy
        keys //= n  # each pair's term
        at = np.searchsorted(keys, np.arange(len(terms) + 1)).astype(np.int64, copy=False)  # sorted by term, then chunk
        return Postings(text_key(self.stored), terms, at, chunks, tfs, lengths)


class BM25(BaseRetriever):
    """Retrieves chunk nodes (as `chunk_node` builds them) by BM25. `sync()` makes it index exactly the
    given texts; a question waits only while a sync swaps postings in, not while it tokenizes."""

    def __init__(self, *, cache: TextCache | None = None, similarity_top_k: int = 10) -> None:
        super().__init__()
        self.similarity_top_k = similarity_top_k
        # postings depend on the tokenizer and on the chunk nodes' text (passages.chunk_node)
        tag = code_tag(version("bm25s"), version("PyStemmer"), Path(__file__), Path(passages.__file__))
        self._per_text = PerText(cache, "bm25", tag, build=Postings.of, load=Postings.from_parts)
        self._lock = threading.Lock()
        self._texts: dict[str, Postings] = {}  # by content hash
        self._slots: dict[str, int] = {}  # a number per text, for chunk keys: slot << 32 | chunk
        self._at_slot: dict[int, str] = {}
        self._next_slot = 0
        self._holders: dict[str, str | list[str]] = {}  # term -> the texts holding it (one: no list)
        self._big: set[str] = set()  # texts of more than BIG terms: not in _holders (see qa.index.vocabulary)
        self._columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # term -> keys, tfs, lengths
        self._stored: Mapping[str, StoredArticle] = {}
        self._docs = 0  # chunks
        self._tokens = 0

    def sync(self, texts: Mapping[str, StoredArticle]) -> None:
        """Index exactly `texts` (by content hash; not changed afterwards): the others are dropped, new or
        retitled ones added (from the cache on disk when it has them), the rest kept as they are."""
        removed, added = self._per_text.sync(texts)
        with self._lock:
            for h in removed:
                self._remove(h)
            for h, p in added.items():
                self._add(h, p)
            self._stored = texts

    def _add(self, h: str, p: Postings) -> None:
        self._texts[h], self._slots[h], self._at_slot[self._next_slot] = p, self._next_slot, h
        self._next_slot += 1
        self._docs += len(p.lengths)
        self._tokens += int(p.lengths.sum())
        self._forget_columns(p)
        if p.terms.compact:
            self._big.add(h)
            return
        holders = self._holders  # the loop a restart runs some 45,000 times on squad2: kept lean
        for t in p.terms:
            held = holders.setdefault(t, h)
            if held is not h:
                if held.__class__ is str:
                    holders[t] = [held, h]
                else:
                    held.append(h)

    def _remove(self, h: str) -> None:
        p = self._texts.pop(h)
        del self._at_slot[self._slots.pop(h)]
        self._docs -= len(p.lengths)
        self._tokens -= int(p.lengths.sum())
        self._forget_columns(p)
        if h in self._big:
            self._big.discard(h)
            return
        for t in p.terms:
            held = self._holders[t]
            if isinstance(held, str):
                del self._holders[t]
            else:
                held.remove(h)
                if len(held) == 1:
                    self._holders[t] = held[0]

    def _forget_columns(self, p: Postings) -> None:
        """Merged postings of `p`'s terms are stale: looked up from the fewer side."""
        if len(self._columns) < len(p.terms):
            for t in [t for t in self._columns if p.terms.index(t) >= 0]:
                del self._columns[t]
        else:
            for t in p.terms:
                self._columns.pop(t, None)

    def _column(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Every chunk holding `term`: its key, the term's count in it, its length."""
        if (col := self._columns.get(term)) is not None:
            return col
        held = self._holders.get(term)
        found = [] if held is None else [held] if isinstance(held, str) else list(held)
        found += [h for h in self._big if self._texts[h].terms.index(term) >= 0]
        if not found:
            return None
        parts = []
        for h in found:
            p = self._texts[h]
            i = p.terms.index(term)
            chunks, tfs = p.chunks[p.at[i] : p.at[i + 1]], p.tfs[p.at[i] : p.at[i + 1]]
            parts.append(((self._slots[h] << 32) + chunks.astype(np.int64), tfs, p.lengths[chunks]))
        col = tuple(np.concatenate(c) for c in zip(*parts)) if len(parts) > 1 else parts[0]
        if len(parts) > 1:  # merging many texts' postings is what is worth keeping
            if len(self._columns) >= _COLUMNS:
                self._columns.clear()
            self._columns[term] = col
        return col

    def top(self, question: str, k: int, allowed: AbstractSet[str] | None = None) -> list[tuple[StoredArticle, int, float]]:
        """(text, chunk, score) of the `k` best chunks scoring above 0; with `allowed`, only of those texts
        (by content hash), scored as in the whole collection."""
        tokens = tokenize([question])[0]
        with self._lock:
            cols = [c for c in map(self._column, tokens) if c is not None]  # a repeated word counts again, as in bm25s
            if not cols or k < 1:
                return []
            n, avgdl = self._docs, self._tokens / self._docs
            parts = []
            for keys, tfs, lengths in cols:  # bm25s's arithmetic: idf in float32, the term's score rounded to float32
                idf = np.float32(math.log(1 + (n - len(keys) + 0.5) / (len(keys) + 0.5)))
                parts.append((idf * (tfs / (K1 * ((1 - B) + B * lengths / avgdl) + tfs))).astype(np.float32))
            keys, at = np.unique(np.concatenate([c[0] for c in cols]), return_inverse=True)
            scores = np.zeros(len(keys), dtype=np.float32)
            np.add.at(scores, at, np.concatenate(parts))  # summed in float32, term by term, as bm25s sums
            if allowed is not None:  # a scoped question: the others' chunks drop out before the cut, not after it
                slots = np.fromiter((self._slots[h] for h in allowed if h in self._slots), dtype=np.int64)
                scores[~np.isin(keys >> 32, slots)] = 0
            order = np.argsort(-scores, kind="stable")
            order = order[scores[order] > 0]
            if len(order) > k:  # those tied with the k-th too, so that ties are settled by key below
                order = order[scores[order] >= scores[order[k - 1]]]
            ranked = [(-float(scores[i]), self._at_slot[int(keys[i]) >> 32], int(keys[i]) & 0xFFFFFFFF) for i in order]
            stored = self._stored
        return [(stored[h], c, -s) for s, h, c in sorted(ranked)[:k]]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.top(query_bundle.query_str, self.similarity_top_k)
        return [NodeWithScore(node=passages.chunk_node(stored, c), score=s) for stored, c, s in hits]
