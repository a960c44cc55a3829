"""What retrieval hands the answerers: our own passage objects, not LlamaIndex nodes; and a stored chunk as
the LlamaIndex node both retrievers speak in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qa.index.store import StoredArticle
from qa.schemas import Citation

if TYPE_CHECKING:
    import numpy as np
    from llama_index.core.schema import TextNode


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
        """Citation `number`, quoting article.text[start:end] from this passage. A sentence injected for
        an AI system (qa.answer.injection) is masked in `passage` and `quote` character for character
        (`injection.MASK` for every character but whitespace), so both keep their length and
        `passage[start - passage_start : end - passage_start]` is still the quote; a flagged title is
        replaced by a note. The stored article is unchanged."""
        # the one import from qa.answer here: the masking rule must be the filter's own
        from qa.answer.injection import mask, redact

        a = self.stored.article
        p_start, p_end = self.span
        layout = self.stored.layout.sentences
        spans = [(s.start, s.end) for s in layout if s.end > min(start, p_start) and s.start < max(end, p_end)]
        k = next((i for i, s in enumerate(layout) if (s.start, s.end) == spans[0]), 0) if spans else 0
        if spans:  # one neighbour beyond each end: sentences are judged in pairs too
            spans = [(s.start, s.end) for s in layout[max(0, k - 1) : k + len(spans) + 1]]
        return Citation(
            id=number, doc_id=a.id, title=redact(a.title), source=a.source, url=a.url, published=a.published, site=a.site,
            quote=mask(a.text, spans, start, end), start=start, end=end, passage=mask(a.text, spans, p_start, p_end),
            passage_start=p_start, passage_end=p_end, score=round(score, 4),
        )  # fmt: skip


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
