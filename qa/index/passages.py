"""What retrieval hands the answerers: our own passage objects, not LlamaIndex nodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qa.index.store import StoredArticle
from qa.schemas import Citation

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores. `vectors`: stored sentence embeddings by sentence number, as
    the retriever fetched them for the cosines; all of them for the passages a generated answer may
    cite (`all_vectors`), which the verifier reuses."""

    stored: StoredArticle
    chunk: int
    score: float
    sentence_cos: dict[int, float]
    bm25: float = 0.0
    vectors: "dict[int, np.ndarray]" = field(default_factory=dict)

    @property
    def span(self) -> tuple[int, int]:
        return self.stored.chunk(self.chunk)

    @property
    def text(self) -> str:
        start, end = self.span
        return self.stored.article.text[start:end]

    def citation(self, number: int, start: int, end: int, score: float) -> Citation:
        """Citation `number`, quoting article.text[start:end] from this passage."""
        a = self.stored.article
        p_start, p_end = self.span
        return Citation(
            id=number, doc_id=a.id, title=a.title, source=a.source, url=a.url, published=a.published,
            quote=a.text[start:end], start=start, end=end, passage=self.text, passage_start=p_start,
            passage_end=p_end, score=round(score, 4),
        )  # fmt: skip
