"""Articles another process wrote since this embedded Chroma client opened. The client's in-memory vector
index does not hold their sentences (it cannot even return their stored vectors), and a fresh client
reloads the whole index: some 5 s with two 4.9 MB articles indexed, after every small write elsewhere.
Instead their sentences are embedded here, once, and searched exactly beside the index: work in
proportion to what changed. Past `Store.FRESH_LIMIT` sentences the store reopens its client after all."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, AbstractSet, Callable, Mapping

import numpy as np

from qa.index.store import sentence_id

if TYPE_CHECKING:
    from qa.index.store import StoredArticle

Embed = Callable[[list[str]], list[list[float]]]


class Fresh:
    """Unit vectors of the sentences of texts the client's index lacks (`Store.holds`), embedded on first use."""

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def vectors(self, stored: "StoredArticle", embed: Embed) -> np.ndarray:
        """One row per stored vector (a sentence, or a long article's chunk: StoredArticle.vector_runs)."""
        got = self._vectors.get(stored.hash)
        if got is None:
            texts = [stored.text_of(r) for r in stored.vector_runs(range(stored.vector_count))]
            m = np.asarray(embed(texts), dtype=np.float32).reshape(len(texts), -1)
            got = m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-12)
            with self._lock:
                self._vectors[stored.hash] = got
        return got

    def vector(self, stored: "StoredArticle", embed: Embed, j: int) -> np.ndarray:
        """The unit vector that stands for sentence `j`."""
        return self.vectors(stored, embed)[stored.vector_of(j)]

    def forget(self, keep: AbstractSet[str]) -> None:
        """Drop the vectors of texts no longer missing (the client was reopened, or they were deleted)."""
        with self._lock:
            self._vectors = {h: v for h, v in self._vectors.items() if h in keep}

    def search(self, missing: list["StoredArticle"], embed: Embed, query: list[float], n: int,
               allowed: AbstractSet[str] | None = None) -> list[tuple[str, float]]:  # fmt: skip
        """The `n` nearest sentences (id, cosine distance) among the `missing` texts, exactly."""
        q = np.asarray(query, dtype=np.float32)
        q = q / (np.linalg.norm(q) + 1e-12)
        hits: list[tuple[str, float]] = []
        for stored in missing:
            if allowed is not None and stored.hash not in allowed:
                continue
            distances = 1.0 - self.vectors(stored, embed) @ q
            runs = stored.vector_runs(range(len(distances)))
            for v in np.argsort(distances)[:n]:
                hits.append((sentence_id(stored.hash, runs[v].start), float(distances[v])))
        return sorted(hits, key=lambda h: (h[1], h[0]))[:n]


def missing(by_hash: Mapping[str, "StoredArticle"], holds: Callable[[str], bool]) -> list["StoredArticle"]:
    """The texts (a snapshot's, by content hash) the client's index does not hold."""
    return [s for h, s in by_hash.items() if not holds(h)]
