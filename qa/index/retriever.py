"""Hybrid retrieval: BM25 over chunks plus dense similarity over sentences, fused on normalised scores.

Measured on squad2 (see evals/): reciprocal rank fusion lost to BM25 alone at rank 1, while fusing
min-max-normalised scores, with a chunk's dense score taken from its best sentence, beat both.
"""

from __future__ import annotations

import math

from collections import defaultdict
from typing import TYPE_CHECKING, AbstractSet, Callable

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from qa.index.fresh import Fresh, missing
from qa.index.passages import Passage, chunk_node
from qa.index.snapshot import Snapshot
from qa.index.store import parse_sentence_id, sentence_id

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

ChunkKey = tuple[str, int]  # (content hash, chunk number)
_POST_FILTER_SHARE = 0.25  # a scope holding this share of the articles is filtered after an unfiltered search
_TIE_MARGIN = 16  # extra sentences fetched so that ties at the cut are settled by us, not by the search


def _minmax(values: dict[ChunkKey, float], floor: float | None = None) -> dict[ChunkKey, float]:
    if not values:
        return {}
    lo = min(values.values()) if floor is None else floor
    span = max(values.values()) - lo
    return {k: (v - lo) / span if span > 1e-9 else 1.0 for k, v in values.items()}


class HybridRetriever(BaseRetriever):
    """`passages()` gives our Passages (scores, sentence cosines and, for the leading ones, sentence
    vectors); LlamaIndex's `retrieve()` gives the same chunks as nodes."""

    def __init__(
        self,
        *,
        snapshot: Callable[[], Snapshot],
        vector_store: "ChromaVectorStore",
        embed_model: "BaseEmbedding",
        top_k: int,
        candidates: int,
        dense_weight: float,
        exact_top: int | None = None,
        all_vectors: bool = False,
        allowed: AbstractSet[str] | None = None,
        fresh: Fresh | None = None,
        holds: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__()
        self._snapshot = snapshot
        self._vector_store = vector_store
        self._embed_model = embed_model
        self.top_k = top_k
        self.candidates = candidates
        self.dense_weight = dense_weight
        # leading chunks whose every sentence gets an exact similarity (the ones the answerer quotes)
        self.exact_top = top_k if exact_top is None else exact_top
        # every sentence vector of those chunks, for the verifier; otherwise only those the search did not score
        self.all_vectors = all_vectors
        # a scoped question: only these texts (content hashes), filtered inside both searches
        self.allowed = None if allowed is None else frozenset(allowed)
        # texts another process wrote that the Chroma client's index does not hold (`holds`): searched exactly
        self._fresh, self._holds = fresh, holds

    def _dense(self, query: QueryBundle, snap: Snapshot) -> tuple[dict[ChunkKey, float], dict[str, dict[int, float]], float]:
        if query.embedding is None:
            query.embedding = self._embed_model.get_query_embedding(query.query_str)
        # Sentences are small, so ask for several per candidate chunk. Only ids and distances: the id names
        # the text and sentence, the snapshot has the rest; turning some 160 stored records per question into
        # LlamaIndex nodes cost more than the search itself.
        hits = sorted(self._nearest(query.embedding, self.candidates * 4 + _TIE_MARGIN, snap), key=lambda h: (h[1], h[0]))
        # The same sentence in two articles ties; which of them the search returns last varies between
        # builds, so keep the first candidates * 4 in an order of our own: two builds answer alike.
        by_chunk: dict[ChunkKey, float] = {}
        by_sentence: dict[str, dict[int, float]] = defaultdict(dict)
        floor = 1.0
        for sid, distance in hits[: self.candidates * 4]:
            h, j = parse_sentence_id(sid)
            stored = snap.by_hash.get(h)
            if stored is None or j >= len(stored.layout.sentences):
                continue  # not committed, or already replaced
            cos = 1.0 - float(distance)  # cosine space
            floor = min(floor, cos)
            for i in stored.run_of(j):  # a long article's vector stands for its chunk's every sentence
                by_sentence[h][i] = cos
            key = (h, stored.layout.sentences[j].chunk)
            by_chunk[key] = max(by_chunk.get(key, -1.0), cos)
        return by_chunk, by_sentence, floor

    def _nearest(self, embedding: list[float], n: int, snap: Snapshot) -> list[tuple[str, float]]:
        """The `n` nearest sentences (id, distance), within `allowed` when scoped: from Chroma, and, for texts
        another process wrote that the client's index lacks, from an exact search of their sentences."""
        lacking = [] if self._fresh is None or self._holds is None else missing(snap.by_hash, self._holds)
        if not lacking:
            return self._indexed(embedding, n, snap, self.allowed)
        lack = {s.hash for s in lacking}
        held = (self.allowed if self.allowed is not None else frozenset(snap.by_hash)) - lack
        hits = self._indexed(embedding, n, snap, held) if held else []
        hits += self._fresh.search(lacking, self._embed_model.get_text_embedding_batch, embedding, n, self.allowed)
        best: dict[str, float] = {}
        for sid, d in hits:  # a text written while the client loaded its index may come from both
            best[sid] = min(d, best.get(sid, d))
        return sorted(best.items(), key=lambda h: (h[1], h[0]))[:n]

    def _indexed(self, embedding: list[float], n: int, snap: Snapshot, allowed: AbstractSet[str] | None) -> list[tuple[str, float]]:
        """Chroma's `n` nearest, within `allowed`. Chroma's `where` with a long `$in` list costs more than the
        search (1.8x a question within a two-year date range, half the articles): a scope holding at least
        `_POST_FILTER_SHARE` of the articles searches unfiltered for enough more that `n` of its own are
        among them, and only when they are not does it filter."""
        client = self._vector_store.client
        if allowed is not None and snap.by_hash:
            share = len(allowed) / len(snap.by_hash)
            if share >= _POST_FILTER_SHARE:
                total = sum(s.vector_count for s in snap.by_hash.values())  # never ask for more than there are
                wide = client.query(query_embeddings=[embedding], n_results=max(1, min(total, math.ceil(2 * n / share))),
                                    include=["distances"])  # fmt: skip
                own = [(i, d) for i, d in zip(wide["ids"][0], wide["distances"][0]) if parse_sentence_id(i)[0] in allowed]
                if len(own) >= n:
                    return own[:n]
        where = None if allowed is None else {"hash": {"$in": sorted(allowed)}}
        result = client.query(query_embeddings=[embedding], n_results=n, include=["distances"], where=where)
        return list(zip(result["ids"][0], result["distances"][0]))

    def _lexical(self, query: QueryBundle, snap: Snapshot) -> dict[ChunkKey, float]:
        if snap.bm25 is None:
            return {}
        hits = snap.bm25.top(query.query_str, snap.bm25.similarity_top_k, self.allowed)
        return {(stored.hash, chunk): float(score) for stored, chunk, score in hits if score > 0 and stored.hash in snap.by_hash}

    def _vectors(self, ranked: list[tuple[ChunkKey, float]], snap: Snapshot, scored: dict[str, dict[int, float]]
                 ) -> dict[str, dict[int, np.ndarray]]:  # fmt: skip
        """Stored vectors of the sentences of these chunks: the answerer compares each of them with the
        question, not only those the nearest-neighbour search happened to return (`scored`)."""
        wanted = [(h, j) for (h, k), _ in ranked for j, _ in snap.by_hash[h].sentences_of(k)
                  if self.all_vectors or j not in scored.get(h, {}) or snap.by_hash[h].per_chunk]  # fmt: skip
        out: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
        # a long article keeps a vector per chunk: the sentences of its chunks found here are embedded now,
        # a few dozen at most, so the answerer and the verifier still compare single sentences
        own = [(h, j) for h, j in wanted if snap.by_hash[h].per_chunk]
        if own:
            texts = [snap.by_hash[h].text_of(range(j, j + 1)) for h, j in own]
            for (h, j), vec in zip(own, self._embed_model.get_text_embedding_batch(texts)):
                out[h][j] = np.asarray(vec, dtype=np.float32)
            wanted = [w for w in wanted if not snap.by_hash[w[0]].per_chunk]
        if self._fresh is not None and self._holds is not None:  # the client cannot return what its index lacks
            lacking = [(h, j) for h, j in wanted if not self._holds(h)]
            for h, j in lacking:
                out[h][j] = self._fresh.vector(snap.by_hash[h], self._embed_model.get_text_embedding_batch, j)
            wanted = [w for w in wanted if self._holds(w[0])]
        runs: dict[str, list[int]] = defaultdict(list)  # a vector's id, the sentences wanted of it
        for h, j in wanted:
            runs[sentence_id(h, snap.by_hash[h].run_of(j).start)].append(j)
        if not runs:
            return out
        got = self._vector_store.client.get(ids=list(runs), include=["embeddings"])
        for sid, vec in zip(got["ids"], got["embeddings"]):
            h = parse_sentence_id(sid)[0]
            for j in runs[sid]:
                out[h][j] = np.asarray(vec, dtype=np.float32)
        return out

    def passages(self, query: str | QueryBundle) -> list[Passage]:
        bundle = QueryBundle(query) if isinstance(query, str) else query
        snap = self._snapshot()
        if snap.empty:
            return []
        dense_raw, sentence_cos, floor = self._dense(bundle, snap)
        bm25_raw = self._lexical(bundle, snap)
        dense = _minmax(dense_raw, floor=floor)
        bm25 = {k: v / max(bm25_raw.values()) for k, v in bm25_raw.items()}
        w = self.dense_weight
        fused = {k: w * dense.get(k, 0.0) + (1 - w) * bm25.get(k, 0.0) for k in dense.keys() | bm25.keys()}
        # ties (the same sentence in two articles) broken by key, not by the order the search found them in
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[: self.top_k]
        vectors = self._vectors(ranked[: self.exact_top], snap, sentence_cos)
        q = np.asarray(bundle.embedding, dtype=np.float32)
        q /= np.linalg.norm(q) or 1.0
        for h, by_j in vectors.items():
            exact = snap.by_hash[h].per_chunk  # its search cosine was its chunk's
            for j, v in by_j.items():  # the search's own cosine is kept where it has one
                cos = float(q @ v / (np.linalg.norm(v) or 1.0))
                if exact:
                    sentence_cos[h][j] = cos
                else:
                    sentence_cos[h].setdefault(j, cos)
        out = []
        for (h, k), score in ranked:
            stored = snap.by_hash[h]
            cos = {j: sentence_cos.get(h, {}).get(j, floor) for j, _ in stored.sentences_of(k)}
            own = {j: v for j, v in vectors.get(h, {}).items() if j in cos}
            out.append(Passage(stored, k, score, cos, bm25_raw.get((h, k), 0.0), own))
        return out

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=chunk_node(p.stored, p.chunk), score=p.score) for p in self.passages(query_bundle)]
