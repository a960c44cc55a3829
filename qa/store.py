"""The Chroma side: a registry of articles and a collection of sentence embeddings.

Sentence entries are keyed by the article's content hash, not its id, so identical text is stored
once and a rename costs nothing. The registry record is the commit point of every write: a reader
only trusts sentences whose hash a committed article carries, and a write that dies part-way leaves
a `pending` marker that the next write sweeps away.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

from qa.errors import ModelMismatch
from qa.models import Article, ArticleInfo
from qa.text import Layout, Sentence

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

_PAGE = 1000
_PLACEHOLDER = [1.0]  # the registry is looked up by id and metadata only; Chroma still wants a vector


@dataclass(frozen=True)
class StoredArticle:
    article: Article
    hash: str
    layout: Layout

    @property
    def id(self) -> str:
        return self.article.id

    def chunk(self, k: int) -> tuple[int, int]:
        return self.layout.chunks[k]

    def sentences_of(self, k: int) -> list[tuple[int, Sentence]]:
        return [(j, s) for j, s in enumerate(self.layout.sentences) if s.chunk == k]

    def info(self) -> ArticleInfo:
        a = self.article
        return ArticleInfo(
            id=a.id, title=a.title, source=a.source, url=a.url, published=a.published, author=a.author,
            hash=self.hash, chars=len(a.text), chunks=len(self.layout.chunks), sentences=len(self.layout.sentences),
        )  # fmt: skip


def _layout_json(layout: Layout) -> str:
    return json.dumps(
        {"c": [list(c) for c in layout.chunks], "s": [[s.start, s.end, s.chunk] for s in layout.sentences]},
        separators=(",", ":"),
    )


def _layout_from_json(raw: str) -> Layout:
    data = json.loads(raw)
    return Layout(tuple(tuple(c) for c in data["c"]), tuple(Sentence(*s) for s in data["s"]))


def _record(stored: StoredArticle) -> dict[str, str | int]:
    a = stored.article
    meta = {"kind": "article", "title": a.title, "source": a.source, "hash": stored.hash}
    meta |= {k: v for k, v in (("url", a.url), ("published", a.published), ("author", a.author)) if v}
    return meta | {"layout": _layout_json(stored.layout)}


def _from_record(doc_id: str, text: str, meta: dict) -> StoredArticle:
    article = Article(
        id=doc_id, title=meta["title"], text=text, source=meta["source"],
        url=meta.get("url"), published=meta.get("published"), author=meta.get("author"),
    )  # fmt: skip
    return StoredArticle(article=article, hash=meta["hash"], layout=_layout_from_json(meta["layout"]))


class Store:
    """Reads and writes one installation's collections (`<prefix>-articles`, `<prefix>-sentences`)."""

    def __init__(self, client: "ClientAPI", *, prefix: str, model: str) -> None:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.client = client
        self.model = model
        self._articles_name = f"{prefix}-articles"
        self.articles = client.get_or_create_collection(
            self._articles_name, metadata={"qa_kind": "articles"}, embedding_function=None
        )
        self.sentences = client.get_or_create_collection(
            f"{prefix}-sentences",
            metadata={"hnsw:space": "cosine", "qa_embed_model": model},
            embedding_function=None,
        )
        self.vector_store: ChromaVectorStore = ChromaVectorStore(chroma_collection=self.sentences)

    # -- model bookkeeping -------------------------------------------------------------------------
    def built_with(self) -> tuple[str, int | None]:
        meta = self.sentences.metadata or {}
        return meta.get("qa_embed_model", self.model), meta.get("qa_embed_dim")

    def check_model(self, *, dim: int | None = None) -> None:
        """Refuse to mix embeddings of two models in one index."""
        built_model, built_dim = self.built_with()
        if built_model != self.model or (dim is not None and built_dim is not None and built_dim != dim):
            raise ModelMismatch(
                f"the index was built with {built_model} ({built_dim or '?'} dims) but the configured model is "
                f"{self.model}: re-index with `qa reindex`, or point QA_DATA_DIR at another index"
            )

    def record_dim(self, dim: int) -> None:
        if self.built_with()[1] is None:
            self.sentences.modify(metadata={"qa_embed_model": self.model, "qa_embed_dim": dim})

    # -- reading -----------------------------------------------------------------------------------
    def revision(self) -> str:
        """Changes on every write, from any process: a cheap way to notice that a cache is stale."""
        fresh = self.client.get_collection(self._articles_name, embedding_function=None)
        return str((fresh.metadata or {}).get("qa_revision", ""))

    def _pages(self, **where) -> Iterable[dict]:
        offset = 0
        while True:
            page = self.articles.get(where=where, include=["documents", "metadatas"], limit=_PAGE, offset=offset)
            yield page
            if len(page["ids"]) < _PAGE:
                return
            offset += _PAGE

    def load(self) -> list[StoredArticle]:
        out = []
        for page in self._pages(kind="article"):
            out += [_from_record(i, d, m) for i, d, m in zip(page["ids"], page["documents"], page["metadatas"])]
        return out

    def get(self, doc_id: str) -> StoredArticle | None:
        got = self.articles.get(ids=[doc_id], include=["documents", "metadatas"])
        if not got["ids"] or got["metadatas"][0].get("kind") != "article":
            return None
        return _from_record(doc_id, got["documents"][0], got["metadatas"][0])

    def sentence_vectors(self, content_hash: str, numbers: Sequence[int]) -> dict[int, list[float]]:
        """Stored embeddings of some sentences of one text, by sentence number."""
        got = self.sentences.get(ids=[f"{content_hash}:{j}" for j in numbers], include=["embeddings"])
        return {int(i.rsplit(":", 1)[1]): list(v) for i, v in zip(got["ids"], got["embeddings"])}

    # -- writing -----------------------------------------------------------------------------------
    def put(self, items: Sequence[tuple[StoredArticle, Sequence["TextNode"], StoredArticle | None]]) -> None:
        """Write articles as one group: markers, sentences, then the records (the commit), then cleanup.

        Batched because every Chroma call has a fixed cost; each record still commits all of its
        article or none of it.
        """
        if not items:
            return
        markers = [f"pending:{stored.hash}" for stored, _, _ in items]
        self.articles.upsert(
            ids=markers,
            embeddings=[_PLACEHOLDER] * len(items),
            metadatas=[{"kind": "pending", "hash": stored.hash} for stored, _, _ in items],
        )
        nodes = [n for _, ns, _ in items for n in ns]
        if nodes:
            self.vector_store.add(nodes)
        self.articles.upsert(
            ids=[stored.id for stored, _, _ in items],
            embeddings=[_PLACEHOLDER] * len(items),
            documents=[stored.article.text for stored, _, _ in items],
            metadatas=[_record(stored) for stored, _, _ in items],
        )
        for stored, _, previous in items:
            if previous is not None and previous.hash != stored.hash:
                self._release(previous.hash)
        self.articles.delete(ids=markers)
        self._bump()

    def delete(self, stored: StoredArticle) -> None:
        self.articles.delete(ids=[stored.id])
        self._release(stored.hash)
        self._bump()

    def rename(self, stored: StoredArticle, article: Article) -> StoredArticle:
        """Same text, new id or file: move the record, keep the embeddings."""
        moved = StoredArticle(article=article, hash=stored.hash, layout=stored.layout)
        self.articles.upsert(
            ids=[moved.id], embeddings=[_PLACEHOLDER], documents=[article.text], metadatas=[_record(moved)]
        )
        if moved.id != stored.id:
            self.articles.delete(ids=[stored.id])
        self._bump()
        return moved

    def sweep(self) -> int:
        """Remove what interrupted writes left: pending markers and their unreferenced sentences."""
        pending = self.articles.get(where={"kind": "pending"}, include=["metadatas"])
        for marker, meta in zip(pending["ids"], pending["metadatas"]):
            self._release(meta["hash"])
            self.articles.delete(ids=[marker])
        return len(pending["ids"])

    def _release(self, content_hash: str) -> None:
        """Delete a hash's sentences unless a committed article still carries that text."""
        if not self.articles.get(where={"$and": [{"kind": "article"}, {"hash": content_hash}]}, limit=1)["ids"]:
            self._delete_sentences(content_hash)

    def _delete_sentences(self, content_hash: str) -> None:
        self.sentences.delete(where={"hash": content_hash})

    def _bump(self) -> None:
        self.articles.modify(metadata={"qa_kind": "articles", "qa_revision": uuid.uuid4().hex})
