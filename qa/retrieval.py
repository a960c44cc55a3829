"""Hybrid retrieval: BM25 over chunks plus dense similarity over sentences, fused on normalised scores.

Measured on squad2 (see evals/): reciprocal rank fusion lost to BM25 alone at rank 1, while fusing
min-max-normalised scores, with a chunk's dense score taken from its best sentence, beat both.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Callable

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import VectorStoreQuery

from qa.index import Snapshot, chunk_node

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

ChunkKey = tuple[str, int]  # (content hash, chunk number)


def _cosine(similarity: float) -> float:
    """ChromaVectorStore reports exp(-distance); with cosine space that is exp(cos - 1)."""
    return 1.0 + math.log(max(similarity, 1e-12))


def _minmax(values: dict[ChunkKey, float], floor: float | None = None) -> dict[ChunkKey, float]:
    if not values:
        return {}
    lo = min(values.values()) if floor is None else floor
    span = max(values.values()) - lo
    return {k: (v - lo) / span if span > 1e-9 else 1.0 for k, v in values.items()}


class HybridRetriever(BaseRetriever):
    """Returns chunk nodes; each carries `sentence_cos`: {sentence number: cosine} for the answerer."""

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

    def _dense(self, query: QueryBundle, snap: Snapshot) -> tuple[dict[ChunkKey, float], dict[str, dict[int, float]], float]:
        if query.embedding is None:
            query.embedding = self._embed_model.get_query_embedding(query.query_str)
        # Sentences are small, so ask for several per candidate chunk.
        result = self._vector_store.query(
            VectorStoreQuery(query_embedding=query.embedding, similarity_top_k=self.candidates * 4)
        )
        by_chunk: dict[ChunkKey, float] = {}
        by_sentence: dict[str, dict[int, float]] = defaultdict(dict)
        floor = 1.0
        for node, sim in zip(result.nodes or [], result.similarities or []):
            meta = node.metadata
            if meta.get("hash") not in snap.by_hash:
                continue  # not committed, or already replaced
            cos = _cosine(sim)
            floor = min(floor, cos)
            by_sentence[meta["hash"]][int(meta["sent"])] = cos
            key = (meta["hash"], int(meta["chunk"]))
            by_chunk[key] = max(by_chunk.get(key, -1.0), cos)
        return by_chunk, by_sentence, floor

    def _lexical(self, query: QueryBundle, snap: Snapshot) -> dict[ChunkKey, float]:
        if snap.bm25 is None:
            return {}
        hits = snap.bm25.retrieve(QueryBundle(query.query_str))
        return {
            (h.node.metadata["hash"], int(h.node.metadata["chunk"])): float(h.score or 0.0)
            for h in hits
            if (h.score or 0.0) > 0 and h.node.metadata.get("hash") in snap.by_hash
        }

    def _fill_cosines(self, ranked, snap: Snapshot, sentence_cos: dict[str, dict[int, float]], query: list[float]) -> None:
        """The answerer compares every sentence of the returned chunks, not only those the
        nearest-neighbour search happened to return, so fetch the missing vectors."""
        missing = [f"{h}:{j}" for (h, k), _ in ranked for j, _ in snap.by_hash[h].sentences_of(k) if j not in sentence_cos.get(h, {})]
        if not missing or query is None:
            return
        got = self._vector_store.client.get(ids=missing, include=["embeddings"])
        q = np.asarray(query, dtype=np.float32)
        q /= np.linalg.norm(q) or 1.0
        for sid, vec in zip(got["ids"], got["embeddings"]):
            h, j = sid.rsplit(":", 1)
            v = np.asarray(vec, dtype=np.float32)
            sentence_cos[h][int(j)] = float(q @ v / (np.linalg.norm(v) or 1.0))

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        snap = self._snapshot()
        if snap.empty:
            return []
        dense_raw, sentence_cos, floor = self._dense(query_bundle, snap)
        bm25_raw = self._lexical(query_bundle, snap)
        dense = _minmax(dense_raw, floor=floor)
        bm25 = {k: v / max(bm25_raw.values()) for k, v in bm25_raw.items()}
        w = self.dense_weight
        fused = {k: w * dense.get(k, 0.0) + (1 - w) * bm25.get(k, 0.0) for k in dense.keys() | bm25.keys()}
        # ties (the same sentence in two articles) broken by key, not by the order the search found them in
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[: self.top_k]
        self._fill_cosines(ranked[: self.exact_top], snap, sentence_cos, query_bundle.embedding)
        out = []
        for (h, k), score in ranked:
            stored = snap.by_hash[h]
            node = chunk_node(stored, k)
            sentences = {j: sentence_cos.get(h, {}).get(j, floor) for j, _ in stored.sentences_of(k)}
            node.metadata |= {
                "sentence_cos": sentences,
                "dense": dense_raw.get((h, k), floor),
                "bm25": bm25_raw.get((h, k), 0.0),
            }
            out.append(NodeWithScore(node=node, score=score))
        return out
