"""The Chroma side: a registry of articles and a collection of sentence embeddings.

Sentence entries are keyed by the article's content hash, not its id, so identical text is stored
once and a rename costs nothing. The registry record is the commit point of every write: a reader
only trusts sentences whose hash a committed article carries, and a write that dies part-way leaves
a `pending` marker that the next write sweeps away.
"""

from __future__ import annotations

import fcntl
import json
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from qa.errors import BackendUnavailable, IndexBusy, IndexUnreachable, ModelMismatch
from qa.schemas import Article, ArticleInfo
from qa.text import Layout, Sentence

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

_PAGE = 1000
STALE_MARKER_S = 600  # a write on a Chroma server that has not committed in this long has died
_PLACEHOLDER = [1.0]  # the registry is looked up by id and metadata only; Chroma still wants a vector


def sentence_id(content_hash: str, j: int) -> str:
    """Chroma id of sentence `j` of a text; sentences are keyed by content, not by article id."""
    return f"{content_hash}:{j}"


def parse_sentence_id(sid: str) -> tuple[str, int]:
    content_hash, j = sid.rsplit(":", 1)
    return content_hash, int(j)


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
    # validated on the way in; constructing 19,000 records without validating again saves about 0.3 s
    article = Article.model_construct(
        id=doc_id, title=meta["title"], text=text, source=meta["source"],
        url=meta.get("url"), published=meta.get("published"), author=meta.get("author"),
    )  # fmt: skip
    return StoredArticle(article=article, hash=meta["hash"], layout=_layout_from_json(meta["layout"]))


UNREACHABLE = "the search index (Chroma) is not reachable; try again in a moment"


def unreachable(err: BaseException) -> bool:
    """Chroma's server is down or cut off (httpx's transport errors, or chromadb's own at connect time)."""
    import httpx

    return isinstance(err, (httpx.TransportError, ConnectionError)) or (
        isinstance(err, ValueError) and "could not connect to a chroma server" in str(err).lower()
    )


@contextmanager
def reachable() -> Iterator[None]:
    """Chroma going away is a 503 the caller can retry, not an internal error."""
    try:
        yield
    except BackendUnavailable:
        raise
    except Exception as err:
        if unreachable(err):
            raise IndexUnreachable(UNREACHABLE) from err
        raise


@dataclass
class _Open:
    """One client and its collections. A reopen retires it; it is closed once no search uses it."""

    client: "ClientAPI"
    articles: "Collection"
    sentences: "Collection"
    users: int = 0
    retired: bool = False

    @cached_property
    def vector_store(self) -> "ChromaVectorStore":
        # imported on first search: listing or deleting articles never pays for LlamaIndex (~0.9 s)
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.sentences)


class Store:
    """Reads and writes one installation's collections (`<prefix>-articles`, `<prefix>-sentences`).

    Other processes may write to the same files or server. `sync()` notices their writes; an embedded
    store then reopens its client, whose in-memory vector index would otherwise miss them or return
    sentences they deleted.
    """

    def __init__(
        self, connect: Callable[[], "ClientAPI"], *, prefix: str, model: str, search_ef: int, construction_ef: int,
        reopen: bool = False, lock_path: Path | None = None, lock_timeout_s: float = 30.0,
    ) -> None:  # fmt: skip
        self._connect = connect
        self._prefix = prefix
        self._articles_name = f"{prefix}-articles"
        self.model = model
        self._hnsw = {"space": "cosine", "ef_search": search_ef, "ef_construction": construction_ef}
        self._reopen_on_change = reopen
        self._lock_path = lock_path
        self._lock_timeout_s = lock_timeout_s
        self._revision: str | None = None
        self._sync_lock = threading.RLock()
        self.generation = 0  # reopens so far: a retry reopens only if nobody did since it failed
        self.writes = 0  # by this store: what changed can be told from what did not
        with reachable():
            self._conn = self._open(connect())

    def _open(self, client: "ClientAPI") -> _Open:
        articles = client.get_or_create_collection(
            self._articles_name, metadata={"qa_kind": "articles"}, embedding_function=None
        )
        sentences = client.get_or_create_collection(
            f"{self._prefix}-sentences",
            metadata={"qa_embed_model": self.model},
            configuration={"hnsw": self._hnsw},
            embedding_function=None,
        )
        # An index made before ef_search was set searches with the configured one (the larger wins, so
        # two processes configured differently do not flip it back and forth).
        hnsw = (sentences.configuration or {}).get("hnsw") or {}
        if (hnsw.get("ef_search") or 0) < self._hnsw["ef_search"]:
            sentences.modify(configuration={"hnsw": {"ef_search": self._hnsw["ef_search"]}})
        return _Open(client, articles, sentences)

    @property
    def client(self) -> "ClientAPI":
        return self._conn.client

    @property
    def articles(self) -> "Collection":
        return self._conn.articles

    @property
    def sentences(self) -> "Collection":
        return self._conn.sentences

    @property
    def vector_store(self) -> "ChromaVectorStore":
        return self._conn.vector_store

    # -- other processes ---------------------------------------------------------------------------
    def sync(self) -> bool:
        """True when anyone (this process or another) wrote since the last call; the first call is True."""
        with self._sync_lock:
            revision = self.revision()
            if revision == self._revision:
                return False
            if self._revision is not None:
                self._reopen()
            self._revision = revision
            return True

    def forget(self) -> None:
        """The last change seen was not loaded after all: the next `sync()` reports it again."""
        with self._sync_lock:
            self._revision = None

    def reopen(self, *, seen: int | None = None) -> None:
        """A fresh client, unless another thread made one since generation `seen`."""
        with self._sync_lock:
            if seen is None or seen == self.generation:
                self._revision = self.revision()
                self._reopen()

    def _reopen(self) -> None:
        if not self._reopen_on_change:  # a Chroma server's index is always current
            return
        old, self._conn = self._conn, self._open(self._connect())
        self.generation += 1
        old.retired = True
        if old.users == 0:
            self.close(old.client)

    @staticmethod
    def close(client: "ClientAPI") -> None:
        from qa.backends import release_chroma

        release_chroma(client)

    @contextmanager
    def searching(self) -> Iterator["ChromaVectorStore"]:
        """The vector store of the current client, kept open until the search is done with it."""
        with self._sync_lock:
            conn = self._conn
            conn.users += 1
        try:
            yield conn.vector_store
        finally:
            with self._sync_lock:
                conn.users -= 1
                done = conn.retired and conn.users == 0
            if done:
                self.close(conn.client)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time across processes on one data directory, starting from what is on disk."""
        if self._lock_path is None:
            self.sync()
            yield
            return
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+b") as handle:
            deadline = time.monotonic() + self._lock_timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:  # waiting longer would hold a server thread hostage
                        raise IndexBusy("another process is writing to the index; try again when it is done") from None
                    time.sleep(0.1)
            try:
                self.sync()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

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
            metadatas=[{"kind": "pending", "hash": stored.hash, "at": int(time.time())} for stored, _, _ in items],
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
        """Remove what interrupted writes left: pending markers and their unreferenced sentences. Under
        the write lock every marker is left over; on a Chroma server another server may be writing
        right now, so only markers older than STALE_MARKER_S are."""
        pending = self.articles.get(where={"kind": "pending"}, include=["metadatas"])
        cutoff = time.time() - (0 if self._lock_path else STALE_MARKER_S)
        stale = [(m, meta) for m, meta in zip(pending["ids"], pending["metadatas"]) if meta.get("at", 0) <= cutoff]
        for marker, meta in stale:
            self._release(meta["hash"], sweeping=True)
            self.articles.delete(ids=[marker])
        return len(stale)

    def _release(self, content_hash: str, *, sweeping: bool = False) -> None:
        """Delete a hash's sentences unless a committed article still carries that text, or (unless
        sweeping) a write in progress is adding it."""
        if self.articles.get(where={"$and": [{"kind": "article"}, {"hash": content_hash}]}, limit=1)["ids"]:
            return
        if not sweeping and self.articles.get(ids=[f"pending:{content_hash}"])["ids"]:
            return
        self._delete_sentences(content_hash)

    def _delete_sentences(self, content_hash: str) -> None:
        self.sentences.delete(where={"hash": content_hash})

    def _bump(self) -> None:
        revision = uuid.uuid4().hex
        with self._sync_lock:  # our own write: this client already holds it, so it is no reason to reopen
            self.articles.modify(metadata={"qa_kind": "articles", "qa_revision": revision})
            self._revision = revision
            self.writes += 1
