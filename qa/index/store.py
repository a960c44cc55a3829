"""The Chroma side: a registry of articles and a collection of sentence embeddings.

Sentence entries are keyed by the article's content hash, not its id, so identical text is stored
once and a rename costs nothing. So is the text itself: its layout and text are kept in pieces in a
collection of texts (`<prefix>-texts`), and the registry's article records hold only the fields. The
registry record is the commit point of every write: a reader only trusts sentences and texts whose hash a
committed article carries, and a write that dies part-way leaves a `pending` marker that the next write
sweeps away.
"""

from __future__ import annotations

import bisect
import fcntl
import json
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence

from qa.errors import BackendUnavailable, IndexBusy, IndexUnreachable, ModelMismatch, QAError, StorageFailed
from qa.errors import disk_full, has_room, storage_error
from qa.schemas import Article, ArticleInfo
from qa.text import Layout, Sentence

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

log = logging.getLogger(__name__)
_PAGE = 1000
STALE_MARKER_S = 600  # a write on a Chroma server that has not committed in this long has died
_PLACEHOLDER = [1.0]  # the registry is looked up by id and metadata only; Chroma still wants a vector


def sentence_id(content_hash: str, j: int) -> str:
    """Chroma id of the vector whose first sentence is `j` of a text; vectors are keyed by content, not by
    article id."""
    return f"{content_hash}:{j}"


def parse_sentence_id(sid: str) -> tuple[str, int]:
    content_hash, j = sid.rsplit(":", 1)
    return content_hash, int(j)


# An article of more sentences than this gets one vector per chunk, not one per sentence: a 4.9 MB article's
# 32,000 sentence vectors and their graph in Chroma's vector index kept about 70 MB. The sentences of the
# chunks a question retrieves are embedded then (qa.index.retriever), so answers still compare sentences.
SENTENCE_VECTORS_UP_TO = 2000


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

    @cached_property
    def parts(self) -> int:
        """Body records its text is kept in (set from the record when it was read from one)."""
        return sum(1 for _ in _pieces(_whole(self)))

    @property
    def per_chunk(self) -> bool:
        """Whether its vectors stand for whole chunks (a long article) rather than single sentences."""
        return len(self.layout.sentences) > SENTENCE_VECTORS_UP_TO

    @cached_property
    def _vector_starts(self) -> tuple[int, ...]:
        cut = self.layout.sentences
        return tuple(j for j in range(len(cut)) if j == 0 or cut[j].chunk != cut[j - 1].chunk)

    @property
    def vector_count(self) -> int:
        return len(self._vector_starts) if self.per_chunk else len(self.layout.sentences)

    def vector_runs(self, vectors: range) -> list[range]:
        """The sentences each of these vectors (numbered 0 .. vector_count - 1) stands for."""
        if not self.per_chunk:
            return [range(v, v + 1) for v in vectors]
        starts, n = self._vector_starts, len(self.layout.sentences)
        return [range(starts[v], starts[v + 1] if v + 1 < len(starts) else n) for v in vectors]

    def text_of(self, run: range) -> str:
        """The text of sentences `run` (one of vector_runs, or a single sentence), as embedded."""
        cut = self.layout.sentences
        return self.article.text[cut[run.start].start : cut[run[-1]].end]

    def vector_of(self, j: int) -> int:
        """The number of the vector that stands for sentence `j`."""
        return bisect.bisect_right(self._vector_starts, j) - 1 if self.per_chunk else j

    def run_of(self, j: int) -> range:
        """The sentences the vector holding sentence `j` stands for; its id is sentence_id(hash, run.start)."""
        v = self.vector_of(j)
        return self.vector_runs(range(v, v + 1))[0]

    def sentences_of(self, k: int) -> list[tuple[int, Sentence]]:
        return [(j, s) for j, s in enumerate(self.layout.sentences) if s.chunk == k]

    def info(self) -> ArticleInfo:
        a = self.article
        return ArticleInfo(
            id=a.id, title=a.title, source=a.source, url=a.url, published=a.published, author=a.author,
            site=a.site, feed=a.feed, hash=self.hash, chars=len(a.text), chunks=len(self.layout.chunks), sentences=len(self.layout.sentences),
        )  # fmt: skip


def _layout_json(layout: Layout) -> str:
    return json.dumps(
        {"c": [list(c) for c in layout.chunks], "s": [[s.start, s.end, s.chunk] for s in layout.sentences]},
        separators=(",", ":"),
    )


def _layout_from_json(raw: str) -> Layout:
    data = json.loads(raw)
    return Layout(tuple(tuple(c) for c in data["c"]), tuple(Sentence(*s) for s in data["s"]))


# UTF-8 bytes of an article's layout and text per body record. One record of a 5 MB text cost Chroma about
# 80 MB to write. They are a collection of their own: big records beside the registry's made each of its
# calls slower (three small writes: 15 ms, 139 ms beside 10 MB). And a piece longer than SQLite's index page
# made every later write into the collection pay for all such pieces: a small write beside 10 MB kept in
# pieces of 60,000 characters took 70 ms, in pieces of 800 15 ms, on an empty collection 6 ms.
BODY_BYTES = 900


def _pieces(whole: str) -> Iterator[str]:
    """`whole` cut into pieces of at most BODY_BYTES in UTF-8 (a character of more bytes than that alone)."""
    at = 0
    while at < len(whole):
        piece = whole[at : at + BODY_BYTES]
        while len(piece) > 1 and (size := len(piece.encode("utf-8", "surrogatepass"))) > BODY_BYTES:
            piece = piece[: max(1, len(piece) * BODY_BYTES // size)]
        yield piece
        at += len(piece)


def _whole(stored: StoredArticle) -> str:
    return _layout_json(stored.layout) + "\n" + stored.article.text


def _body(stored: StoredArticle) -> Iterator[tuple[str, dict]]:
    """(id, metadata) of each piece of a text's body: its layout as JSON (which holds no newline), a
    newline, the text. In metadata, not documents: Chroma also indexes documents for full-text search."""
    k = -1
    for k, piece in enumerate(_pieces(_whole(stored))):
        yield body_id(stored.hash, k), {"hash": stored.hash, "part": k, "piece": piece}
    stored.__dict__.setdefault("parts", k + 1)  # counted here: the record's `parts` need not cut it all again


def _part_count(articles: Iterable[StoredArticle]) -> int:
    """Body records these articles' texts take: one set per distinct text."""
    return sum(a.parts for a in {a.hash: a for a in articles}.values())


def body_id(content_hash: str, k: int) -> str:
    return f"body:{content_hash}:{k}"


def parse_body_id(bid: str) -> str:
    return bid.split(":")[1]


def body_ids(content_hash: str, parts: int) -> list[str]:
    return [body_id(content_hash, k) for k in range(parts)]


def _fields(a: Article) -> dict[str, str | None]:
    """What a registry record keeps of an article besides its text (named by the hash). None, not absent:
    Chroma's upsert merges metadata, so an absent key would keep the old article's value."""
    return {"title": a.title, "source": a.source, "url": a.url or None, "published": a.published or None,
            "author": a.author or None, "site": a.site or None, "feed": a.feed or None}


def same_fields(stored: StoredArticle, article: Article) -> bool:
    """`article` would leave `stored`'s record as it is: what it was read with and nothing keeps
    (`id_given`) does not count."""
    return _fields(stored.article) == _fields(article)


def _record(stored: StoredArticle) -> dict[str, str | int | None]:
    meta = {"kind": "article", "hash": stored.hash, **_fields(stored.article)}
    return meta | {"parts": stored.parts, "layout": None}  # `layout`: records made before bodies held it


def _from_record(doc_id: str, text: str, meta: dict, layout: Layout | None = None) -> StoredArticle:
    # validated on the way in; constructing 19,000 records without validating again saves about 0.3 s
    article = Article.model_construct(
        id=doc_id, title=meta["title"], text=text, source=meta["source"],
        url=meta.get("url"), published=meta.get("published"), author=meta.get("author"),
        site=meta.get("site"), feed=meta.get("feed"),
    )  # fmt: skip
    layout = _layout_from_json(meta["layout"]) if layout is None else layout  # given: parsing it again is waste
    stored = StoredArticle(article=article, hash=meta["hash"], layout=layout)
    if meta.get("parts"):
        stored.__dict__["parts"] = meta["parts"]  # as recorded: not computed again
    return stored


def _same_record(stored: StoredArticle | None, meta: dict) -> bool:
    """`stored` is what this registry metadata describes (the text itself is named by the hash)."""
    if stored is None:
        return False
    return stored.hash == meta["hash"] and all(meta.get(k) == v for k, v in _fields(stored.article).items())


UNREACHABLE = "the search index (Chroma) is not reachable; try again in a moment"


def unreachable(err: BaseException) -> bool:
    """Chroma's server is down or cut off (httpx's transport errors, or chromadb's own at connect time)."""
    import httpx

    return isinstance(err, (httpx.TransportError, ConnectionError)) or (
        isinstance(err, ValueError) and "could not connect to a chroma server" in str(err).lower()
    )


@contextmanager
def reachable(location: str = "the data directory", path: Path | None = None) -> Iterator[None]:
    """Chroma going away is a 503 the caller can retry, not an internal error; so is storage that fails
    (a full disk, 507: Chroma reads too apply what it has not yet written)."""
    try:
        yield
    except BackendUnavailable:
        raise
    except Exception as err:
        if unreachable(err):
            raise IndexUnreachable(UNREACHABLE) from err
        failed = storage_error(err, location, path)
        if failed is not None:
            raise failed from err
        raise


def _pending(content_hash: str, at: int) -> dict:
    """A pending marker's metadata: a write of this text started at `at` (0: a write being undone)."""
    return {"kind": "pending", "hash": content_hash, "at": at}


def _vector_count(articles: Iterable[StoredArticle]) -> int:
    """Vectors the index holds for these records: one set per distinct text."""
    return sum(a.vector_count for a in {a.hash: a for a in articles}.values())


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for k in range(0, len(items), size):
        yield items[k : k + size]


@dataclass
class _Open:
    """One client and its collections. A reopen retires it; it is closed once no search uses it."""

    client: "ClientAPI"
    articles: "Collection"
    sentences: "Collection"
    texts: "Collection"
    users: int = 0
    retired: bool = False

    @cached_property
    def vector_store(self) -> "ChromaVectorStore":
        # imported on first search: listing or deleting articles never pays for LlamaIndex (~0.9 s)
        from qa.index.sentence_store import SentenceStore

        return SentenceStore(chroma_collection=self.sentences)


class Store:
    """Reads and writes one installation's collections (`<prefix>-articles`, `<prefix>-sentences`).

    Other processes may write to the same files or server. `sync()` notices their writes; an embedded
    store then reopens its client, whose in-memory vector index would otherwise miss them or return
    sentences they deleted.
    """

    def __init__(
        self, connect: Callable[[], "ClientAPI"], *, prefix: str, model: str, search_ef: int, construction_ef: int,
        reopen: bool = False, lock_path: Path | None = None, lock_timeout_s: float = 30.0,
        location: str | None = None, path: Path | None = None,
    ) -> None:  # fmt: skip
        self._connect = connect
        self.location = location or (str(path) if path else "the Chroma server")  # for error messages
        self._path = path  # where an embedded index lives: its free space tells a full disk
        self.dirty = False  # a write failed and left something the next sweep removes
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
        # texts whose sentences this client's in-memory vector index holds (embedded only): another process's
        # later writes are not among them until a reopen (qa.index.fresh searches them meanwhile)
        self._held: frozenset[str] = frozenset()
        self._stale = False  # another process wrote since this client opened
        self._replace_pending = False  # a write failed through this client: `_replace_failed` replaces it
        # texts this process wrote since the registry was last loaded: the load takes them from here
        # rather than reading a 5 MB text back (its time, and a second copy in memory)
        self._written: dict[str, StoredArticle] = {}
        self._writes_here = 0  # threads of this process holding the write lock
        # the token this store left in the lock file when its last write ended cleanly; finding it there at
        # the next write means no other process took the lock since (to write, or to die writing)
        self._token: bytes | None = None
        self._alone = False  # inside a write that follows our own clean one: nothing is left to sweep
        with reachable(), self._storage(recover=False):
            opened = self._open(connect())
            self._conn = opened
            if self._reopen_on_change:
                self._hold(opened)

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
        texts = client.get_or_create_collection(f"{self._prefix}-texts", embedding_function=None)
        return _Open(client, articles, sentences, texts)

    @property
    def _live(self) -> _Open:
        """The client, replaced first if a write failed through it and the disk has room again: every use
        of the index notices, so no other client opens beside the failed one."""
        if self._replace_pending:
            self._replace_failed()
        return self._conn

    @property
    def client(self) -> "ClientAPI":
        return self._live.client

    @property
    def articles(self) -> "Collection":
        return self._live.articles

    @property
    def sentences(self) -> "Collection":
        return self._live.sentences

    @property
    def texts(self) -> "Collection":
        return self._live.texts

    @property
    def vector_store(self) -> "ChromaVectorStore":
        return self._live.vector_store

    # -- other processes ---------------------------------------------------------------------------
    FRESH_LIMIT = 2000  # vectors of texts another process wrote that are searched beside the index, not reloaded

    def sync(self, *, writer: bool = False) -> bool:
        """True when anyone (this process or another) wrote since the last call; the first call is True.

        Another process's write does not reopen an embedded client at once: a fresh client loads the whole
        vector index, so until `settle` finds more than FRESH_LIMIT sentences missing from it the texts it
        lacks are searched beside it (`holds`). A writer must start from what is on disk, so it reopens."""
        with self._sync_lock:
            self._replace_failed()
            if writer and self._replace_pending:  # a client whose write failed has hung on the next one
                if not has_room(self._path):
                    raise disk_full(self.location)
                raise IndexBusy(f"the index in {self.location} is being reopened after a failed write; try again")
            revision = self.revision()
            if revision != self._revision and self._revision is not None and self._reopen_on_change:
                self._stale = True
            if writer and self._stale:
                self._reopen()
            if revision == self._revision:
                return False
            self._revision = revision
            return True

    def holds(self, content_hash: str) -> bool:
        """Whether this client's vector index holds the text's sentences (a Chroma server's always does)."""
        return not self._reopen_on_change or content_hash in self._held

    def settle(self, articles: Sequence[StoredArticle]) -> None:
        """Reopen when the texts this client lacks have grown past FRESH_LIMIT vectors."""
        if self._stale and sum(a.vector_count for a in articles if not self.holds(a.hash)) > self.FRESH_LIMIT:
            with self._sync_lock:
                self._reopen()

    def _committed_hashes(self, conn: "_Open | None" = None) -> frozenset[str]:
        """The texts of committed articles, read from the registry alone (no text, no vector): through a
        client just opened, before anything loads its vector index, they are what that index holds (a text
        written in between is searched twice at worst)."""
        pages = self._pages(include=("metadatas",), collection=(conn or self._conn).articles, kind="article")
        return frozenset(m["hash"] for page in pages for m in page["metadatas"])

    def _hold(self, conn: _Open) -> None:
        """`conn` becomes the client; what its index holds is read now, or, if that fails, taken as stale."""
        try:
            held = self._committed_hashes(conn)
        except Exception as err:  # noqa: BLE001 -- the next check reopens again
            log.info("could not read the registry of a reopened index: %s", err)
            held = None
        self._conn = conn
        self._held, self._stale = (held, False) if held is not None else (self._held, True)

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
        # A Chroma server's index is always current; a client whose write failed is replaced by
        # `_replace_failed`, never opened beside.
        if not self._reopen_on_change or self._replace_pending:
            return
        old = self._conn
        self._hold(self._open(self._connect()))
        self.generation += 1
        old.retired = True
        if old.users == 0:
            self.close(old.client)

    @staticmethod
    def close(client: "ClientAPI", *, after_s: float = 10.0) -> None:
        from qa.backends import release_chroma

        release_chroma(client, after_s=after_s)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """`reachable()`, naming this index's directory when its storage fails. On a full disk a read
        fails too (Chroma applies its queued writes first), and may leave the client holding a lock."""
        try:
            with reachable(self.location, self._path):
                yield
        except StorageFailed:
            self._recover()
            raise

    @property
    def max_batch(self) -> int:
        """Records one Chroma call may carry (5,461 embedded)."""
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:
            return 1000

    @contextmanager
    def _storage(self, *, recover: bool = True) -> Iterator[None]:
        """A write that fails for want of space or permission is a StorageFailed naming the directory; the
        client is replaced, since one whose write failed half-way may keep SQLite's locks."""
        try:
            yield
        except QAError:
            raise
        except Exception as err:
            failed = storage_error(err, self.location, self._path)
            if failed is None:
                raise
            log.info("%s (%s: %s)", failed, type(err).__name__, err)
            if recover:
                self._recover()
            raise failed from err

    def _recover(self) -> bool:
        """After a failed write the embedded client is replaced, since one whose write failed half-way may
        keep SQLite's locks; at once if it can be, else at the next use of the index (`_live`, `sync`).
        False while the failed client is kept: nothing more is written through it (a second write through
        it has hung), and what is left to do is left to the next sweep."""
        self.dirty = True
        if self._reopen_on_change:
            self._replace_pending = True
            try:
                self._replace_failed()
            except QAError as err:  # the caller reports the write's own failure; the next sync tries again
                log.info("%s", err)
        return not self._replace_pending

    def _replace_failed(self) -> None:
        """Stop the client whose write failed, then open a fresh one, once the disk has room again and no
        search uses it. Opened beside it, a fresh client has waited for good on its locks (inside Chroma,
        holding the GIL); on a full disk none opens at all, and the old one still answers questions."""
        with self._sync_lock:
            old = self._conn
            if not self._replace_pending or old.users or not has_room(self._path):
                return
            old.retired = True
            self.close(old.client, after_s=0)
            try:
                fresh = self._open(self._connect())
            except Exception as err:
                log.info("could not reopen the index after a failed write: %s", err)
                raise storage_error(err, self.location, self._path) or IndexUnreachable(
                    f"the search index in {self.location} could not be reopened: {err}") from err
            self._replace_pending = False
            self._hold(fresh)
            self.generation += 1

    @contextmanager
    def searching(self) -> Iterator["ChromaVectorStore"]:
        """The vector store of the current client, kept open until the search is done with it."""
        with self._sync_lock:
            conn = self._live
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
            self.sync(writer=True)
            yield
            return
        with self._storage(recover=False):
            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self._lock_path, "a+b")
        with handle:
            deadline = time.monotonic() + self._lock_timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:  # waiting longer would hold a server thread hostage
                        raise IndexBusy("another process is writing to the index; try again when it is done") from None
                    time.sleep(0.1)
            self._writes_here += 1
            clean = False
            try:
                self._alone = self._claim(handle)
                self.sync(writer=True)
                yield
                clean = True
            finally:
                self._writes_here -= 1
                self._alone = False
                if not clean:
                    self._token = None
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _claim(self, handle) -> bool:
        """Leave a new token in the lock file (held by us); True when it still held ours."""
        try:
            handle.seek(0)
            previous = handle.read(64)
            token = uuid.uuid4().hex.encode()
            handle.truncate(0)
            handle.write(token)  # appends: at 0 after the truncate
            handle.flush()
        except OSError:  # a full disk: the write will say so; this one just sweeps
            self._token = None
            return False
        alone, self._token = self._token is not None and previous == self._token, token
        return alone

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

    def _pages(self, include: Sequence[str] = ("documents", "metadatas"), collection: "Collection | None" = None,
               size: int = _PAGE, **where) -> Iterable[dict]:  # fmt: skip
        """`collection` (the registry unless given) in pages of `size`, within `where`."""
        offset = 0
        while True:
            page = (collection or self.articles).get(where=where or None, include=list(include), limit=size, offset=offset)
            yield page
            if len(page["ids"]) < size:
                return
            offset += size

    def load(self) -> list[StoredArticle]:
        rows = [row for page in self._pages(kind="article") for row in zip(page["ids"], page["metadatas"], page["documents"])]
        return self._stored(rows)

    def _stored(self, rows: Sequence[tuple[str, dict, str | None]]) -> list[StoredArticle]:
        """Articles from registry rows (id, metadata, document), with their bodies, read once per text. A
        record whose body is not all there (deleted meanwhile) is left out."""
        bodies = self._bodies({m["hash"]: m["parts"] for _, m, _ in rows if m.get("parts")})
        out = []
        for doc_id, meta, doc in rows:
            if not meta.get("parts"):  # made before bodies: the text and layout are in the record
                if meta.get("layout"):
                    out.append(_from_record(doc_id, doc or "", meta))
            elif (body := bodies.get(meta["hash"])) is not None:
                out.append(_from_record(doc_id, body[1], meta, body[0]))
        return out

    def _bodies(self, wanted: Mapping[str, int]) -> dict[str, tuple[Layout, str]]:
        """(layout, text) of each text in `wanted` (hash -> parts), in calls of a bounded size."""
        pieces: dict[str, dict[int, str]] = {}
        for batch in _batches([i for h, n in wanted.items() for i in body_ids(h, n)], _PAGE // 4):
            for m in self.texts.get(ids=list(batch), include=["metadatas"])["metadatas"]:
                pieces.setdefault(m["hash"], {})[m["part"]] = m["piece"]
        out = {}
        for content_hash, n in wanted.items():
            got = pieces.get(content_hash, {})
            if len(got) == n:
                layout, text = "".join(got[k] for k in range(n)).split("\n", 1)
                out[content_hash] = (_layout_from_json(layout), text)
        return out

    def load_changed(self, known: Mapping[str, StoredArticle]) -> list[StoredArticle]:
        """As `load()`, given `known` (the records last loaded, by id): the registry is listed without
        its texts, and a text is fetched only when no known record carries its hash. A write then reads
        what it changed, not every article again."""
        written, self._written = self._written, {}
        if not known:
            return self.load()  # one pass, not a listing and then every text
        by_hash = {a.hash: a for a in known.values()}
        for content_hash, stored in written.items():  # what this process wrote is not read back
            by_hash.setdefault(content_hash, stored)
        mine = {a.id: a for a in written.values()}
        listed = [(i, m) for page in self._pages(("metadatas",), kind="article") for i, m in zip(page["ids"], page["metadatas"])]
        fetched: dict[str, StoredArticle] = {}
        for batch in _batches([i for i, m in listed if m["hash"] not in by_hash], _PAGE):
            got = self.articles.get(ids=list(batch), include=["documents", "metadatas"])
            rows = [row for row in zip(got["ids"], got["metadatas"], got["documents"]) if row[1].get("kind") == "article"]
            fetched |= {a.id: a for a in self._stored(rows)}
        out = []
        for doc_id, meta in listed:
            twin = by_hash.get(meta["hash"])
            if twin is None:
                stored = fetched.get(doc_id)  # None: deleted since it was listed
            elif _same_record(known.get(doc_id), meta):
                stored = known[doc_id]
            elif _same_record(mine.get(doc_id), meta):
                stored = mine[doc_id]
            else:  # renamed or retitled: the same text and layout under new fields
                stored = _from_record(doc_id, twin.article.text, meta, twin.layout)
            if stored is not None:
                out.append(stored)
        return out

    def get(self, doc_id: str) -> StoredArticle | None:
        got = self.articles.get(ids=[doc_id], include=["documents", "metadatas"])
        if not got["ids"] or got["metadatas"][0].get("kind") != "article":
            return None
        found = self._stored([(doc_id, got["metadatas"][0], got["documents"][0])])
        return found[0] if found else None

    # -- writing -----------------------------------------------------------------------------------
    def _marker(self, marker_id: str, content_hash: str) -> dict:
        return {"ids": [marker_id], "embeddings": [_PLACEHOLDER], "metadatas": [_pending(content_hash, int(time.time()))]}

    def _mark(self, items: Sequence[tuple[StoredArticle, StoredArticle | None]], *, at: int) -> None:
        """A pending marker for each of `items`, in calls of at most Chroma's batch size."""
        for group in _batches(items, self.max_batch):
            self.articles.upsert(ids=[f"pending:{st.hash}" for st, _ in group], embeddings=[_PLACEHOLDER] * len(group),
                                 metadatas=[_pending(st.hash, at) for st, _ in group])  # fmt: skip

    def put(self, items: Sequence[tuple[StoredArticle, StoredArticle | None]],
            sentences: Iterable[Sequence["TextNode"]]) -> None:  # fmt: skip
        """Write articles (each with the record it replaces, or None) as one group: markers, sentences,
        then the records (the commit), then cleanup. `sentences`: all of the items' sentence nodes with
        their vectors, in batches, each written as it comes: a caller that embeds them as they are asked
        for never holds a big article's vectors at once.

        Batched because every Chroma call has a fixed cost, and in calls of at most Chroma's maximum
        batch size; each record still commits all of its article or none of it. A write that fails is
        undone (records as they were, its sentences and markers removed) as far as the disk allows; what
        it cannot undo the next sweep removes.
        """
        if not items:
            return
        markers = [f"pending:{stored.hash}" for stored, _ in items]
        size = self.max_batch
        with self._storage():
            try:
                self._mark(items, at=int(time.time()))
                for nodes in sentences:
                    for batch in _batches(nodes, size):
                        self.vector_store.add(list(batch))
                self._put_bodies(stored for stored, _ in items)
                for group in _batches(items, size):
                    self._put_records([stored for stored, _ in group])
            except BaseException:
                self._undo_put(items, markers)
                raise
        # committed: what is left to do only frees space, and a failure leaves leftovers the sweep removes
        self._held |= {stored.hash for stored, _ in items}  # written through this client: its index holds them
        self._written |= {stored.hash: stored for stored, _ in items}
        try:
            for stored, previous in items:
                if previous is not None and previous.hash != stored.hash:
                    self._release(previous.hash)
            self.articles.delete(ids=markers)
        except Exception as err:
            log.info("cleanup after a write left for the next sweep: %s", err)
            self._recover()
        self._bump()

    def _put_records(self, articles: Sequence[StoredArticle]) -> None:
        # an empty document replaces the text a record made before bodies held
        self.articles.upsert(ids=[a.id for a in articles], embeddings=[_PLACEHOLDER] * len(articles),
                             documents=[""] * len(articles), metadatas=[_record(a) for a in articles])  # fmt: skip

    def _put_bodies(self, articles: Iterable[StoredArticle], *, unless_stored: bool = False) -> None:
        """The bodies of `articles`' texts, in calls of at most Chroma's batch size and about 1 MB (Chroma
        holds a call's data several times over while it writes). `unless_stored`: only those not stored yet
        (a record made before bodies held its text)."""
        pieces: list[tuple[str, dict]] = []
        for stored in {a.hash: a for a in articles}.values():
            if unless_stored and self.texts.get(ids=body_ids(stored.hash, 1))["ids"]:
                continue
            for piece in _body(stored):
                pieces.append(piece)
                if len(pieces) >= min(self.max_batch, 1_000_000 // BODY_BYTES):
                    self._upsert_pieces(pieces)
                    pieces = []
        if pieces:
            self._upsert_pieces(pieces)

    def _upsert_pieces(self, pieces: list[tuple[str, dict]]) -> None:
        self.texts.upsert(ids=[i for i, _ in pieces], embeddings=[_PLACEHOLDER] * len(pieces), metadatas=[m for _, m in pieces])

    def _undo_put(self, items: Sequence[tuple[StoredArticle, StoredArticle | None]], markers: list[str]) -> None:
        """Take back a write that failed: records as they were, then its sentences, then its markers.
        Best effort: on a disk still full this fails too, and the markers left lead the sweep."""
        if not self._recover():
            return
        try:
            # Rewriting the markers first makes Chroma apply whatever of the failed calls it still holds
            # (it can apply a failed call at the next write), so what is read next is what is stored.
            self._mark(items, at=0)
            got = self.articles.get(ids=[st.id for st, _ in items], include=["metadatas"])
            landed = {i: m.get("hash") for i, m in zip(got["ids"], got["metadatas"])}
            for stored, previous in items:
                if landed.get(stored.id) != stored.hash:
                    continue
                if previous is not None:
                    self._put_bodies([previous], unless_stored=True)
                    self._put_records([previous])
                else:
                    self.articles.delete(ids=[stored.id])
            for stored, _ in items:
                self._release(stored.hash, sweeping=True)
            self.articles.delete(ids=markers)
            self.dirty = False
        except Exception as err:
            log.info("a failed write is left for the next sweep: %s", err)
            self._recover()

    def delete(self, stored: StoredArticle) -> None:
        """A marker, the record (the commit), the sentences, the marker. A failure before the record is
        gone leaves the article as it was; after, the delete is finished now if the disk allows, else by
        the next sweep: never a record gone with its sentences kept for good."""
        marker = f"deleting:{stored.hash}"
        with self._storage():
            self.articles.upsert(**self._marker(marker, stored.hash))
            try:
                self.articles.delete(ids=[stored.id])
                self._release(stored.hash)
                self.articles.delete(ids=[marker])
            except Exception:
                if not self._finish_delete(stored, marker):
                    raise
        self._bump()

    def _finish_delete(self, stored: StoredArticle, marker: str) -> bool:
        """After a delete failed part-way: True when it could be finished (or undone) after all."""
        if not self._recover():
            return False
        try:
            self.articles.upsert(**self._marker(marker, stored.hash))  # applies what Chroma still holds
            still = self.articles.get(ids=[stored.id], include=["metadatas"])
            present = bool(still["ids"]) and still["metadatas"][0].get("hash") == stored.hash
            if not present:
                self._release(stored.hash, sweeping=True)
            self.articles.delete(ids=[marker])
            self.dirty = False
            return not present
        except Exception as err:
            log.info("a failed delete is left for the next sweep: %s", err)
            self._recover()
            return False

    def rename(self, stored: StoredArticle, article: Article, *, replacing: StoredArticle | None = None) -> StoredArticle:
        """Same text, new id or file: move the record, keep the embeddings. `replacing`: the article that
        held the new id; the upsert over its record is the commit, its sentences go after (or at a sweep)."""
        moved = StoredArticle(article=article, hash=stored.hash, layout=stored.layout)
        with self._storage():
            self._put_bodies([moved], unless_stored=True)
            self._put_records([moved])
            if moved.id != stored.id:
                self.articles.delete(ids=[stored.id])
            if replacing is not None and replacing.hash != moved.hash:
                self._release(replacing.hash)
        self._bump()
        return moved

    def sweep(self, committed: Iterable[StoredArticle] | None = None) -> int:
        """Remove what interrupted writes left: pending markers and their unreferenced sentences, then
        sentences no record carries (orphans). Under the write lock every marker is left over; on a Chroma
        server another server may be writing right now, so only markers older than STALE_MARKER_S are,
        and sentences whose hash a marker names are kept. `committed`: the records, if already loaded."""
        if self._alone and not self.dirty:
            return 0  # our last write ended cleanly and no other process has taken the lock since
        with self._storage():
            if self.dirty:  # a failed write of ours: a write makes Chroma apply what it still holds of it
                self.articles.upsert(**self._marker("pending:settle", "settle"))
            pending = self.articles.get(where={"kind": "pending"}, include=["metadatas"])
            cutoff = time.time() - (0 if self._lock_path else STALE_MARKER_S)
            stale = [(m, meta) for m, meta in zip(pending["ids"], pending["metadatas"]) if meta.get("at", 0) <= cutoff]
            for marker, meta in stale:
                self._release(meta["hash"], sweeping=True)
                self.articles.delete(ids=[marker])
            orphans = self.orphans(committed if not stale else None)
            for content_hash in orphans:
                self._delete_text(content_hash)
            self.dirty = False
        if orphans or stale:
            log.info("swept %d unfinished writes and the sentences of %d texts no article carries", len(stale), len(orphans))
            self._bump()
        return len(stale) + len(orphans)

    def tidy(self, committed: Sequence[StoredArticle]) -> bool:
        """For readers: sentences that no record carries (a write killed or failed part-way) take places
        among a search's candidates, so they are swept as soon as they are seen, if no write is running.
        True when something was removed."""
        if self._lock_path is None or not self._lock_path.exists():
            return False  # on a Chroma server, writes sweep: another server may be writing right now
        if self._writes_here:
            return False  # this process writes (the lock below would refuse): counting is waste, ~2 ms a count beside big texts
        # a pending marker makes the registry longer than its records; a body no record carries, the texts
        clean = self.sentences.count() <= _vector_count(committed) and \
            self.articles.count() <= len(committed) and self.texts.count() <= _part_count(committed)  # fmt: skip
        if not self.dirty and clean:
            return False
        try:
            handle = open(self._lock_path, "a+b")
        except OSError:
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a write is running (maybe ours): its sentences are not orphans yet
            self._claim(handle)  # a sweep killed part-way leaves a marker: the next write sweeps in full
            self._token = None
            try:
                return self.sweep(committed) > 0
            except (StorageFailed, IndexUnreachable) as err:
                log.info("left for the next write: %s", err)
                return False
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def orphans(self, committed: Iterable[StoredArticle] | None = None) -> set[str]:
        """Hashes of stored sentences or bodies that no record carries and no marker names. Cheap when there
        are none: they are counted against the records' layouts, and listed only when they differ."""
        articles = list(self.load() if committed is None else committed)
        stored: set[str] = set()
        # sentences and bodies first, then the registry: a write that adds them wrote its marker before
        if self.sentences.count() > _vector_count(articles):
            pages = self._pages((), self.sentences, _PAGE * 10)
            stored |= {parse_sentence_id(i)[0] for page in pages for i in page["ids"]}
        if self.texts.count() > _part_count(articles):
            stored |= {parse_body_id(i) for page in self._pages((), self.texts, _PAGE * 10) for i in page["ids"]}
        if not stored:
            return set()
        live = set(self._committed_hashes())
        live |= {m["hash"] for m in self.articles.get(where={"kind": "pending"}, include=["metadatas"])["metadatas"]}
        return stored - live

    def _release(self, content_hash: str, *, sweeping: bool = False) -> None:
        """Delete a hash's sentences unless a committed article still carries that text, or (unless
        sweeping) a write in progress is adding it."""
        if self.articles.get(where={"$and": [{"kind": "article"}, {"hash": content_hash}]}, limit=1)["ids"]:
            return
        if not sweeping and self.articles.get(ids=[f"pending:{content_hash}"])["ids"]:
            return
        self._delete_text(content_hash)

    def _delete_text(self, content_hash: str) -> None:
        """A text's sentences, then its body."""
        self.sentences.delete(where={"hash": content_hash})
        self.texts.delete(where={"hash": content_hash})

    def _bump(self) -> None:
        revision = uuid.uuid4().hex
        with self._sync_lock:  # our own write: this client already holds it, so it is no reason to reopen
            self.writes += 1
            conn = self._live
            if self._replace_pending:
                return  # not through a client whose write failed; other processes notice at the next write
            try:
                conn.articles.modify(metadata={"qa_kind": "articles", "qa_revision": revision})
            except Exception as err:  # the write is done; other processes notice it at the next one
                log.info("could not record the index revision: %s", err)
                self._recover()
                return
            self._revision = revision
