"""Library: the articles questions are answered from. Adds, ingests, lists, shows, deletes and re-embeds
them; parses uploads. The engine reads from it; every write goes through it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from qa import backends
from qa.config import Settings
from qa.errors import BadInput, NotFound, TooLarge
from qa.ingest.heap import give_back
from qa.index.snapshot import Index, Snapshot
from qa.index.store import Store, StoredArticle
from qa.ingest.feeds import Feeds, FeedStore
from qa.ingest.identity import identify
from qa.ingest.links import fetch_article
from qa.ingest.parse_cache import ParseCache
from qa.ingest.pipeline import Ingestor
from qa.ingest.pipeline import prune as prune_missing
from qa.ingest.fields import BadId, article_from_fields, slugify
from qa.ingest.readers import Skipped, parse_bytes, read_paths
from qa.schemas import UPLOADED, Article, ArticleInfo, IngestReport, Parsed

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding


class Library:
    def __init__(self, settings: Settings, *, embed_model: "BaseEmbedding | None" = None, check_model: bool = True):
        self.settings = settings
        self.store = self._store()
        if check_model:
            self.store.check_model()  # before loading anything: a mismatch is known from metadata alone
        c = settings.chroma
        cache = c.collection if c.host is None else f"{c.host}-{c.port}-{c.collection}"
        self.index = Index(self.store, cache_dir=Path(settings.data_dir) / "bm25" / cache, candidates=settings.retrieval.candidates)
        self._embed_model = embed_model
        self._write_lock = threading.Lock()
        self.feeds = Feeds(settings, FeedStore(lambda: self.store.client, settings.chroma.collection),
                           add_articles=self.add, writing=self._writing)  # fmt: skip

    def _store(self) -> Store:
        s = self.settings
        embedded = s.chroma.host is None
        return Store(
            lambda: backends.chroma_client(s.chroma, data_dir=s.data_dir), prefix=s.chroma.collection,
            model=backends.model_label(s.embedding), search_ef=s.chroma.hnsw_search_ef,
            construction_ef=s.chroma.hnsw_construction_ef, reopen=embedded,
            lock_path=Path(s.data_dir) / "chroma" / "qa-write.lock" if embedded else None,
            location=str(Path(s.data_dir) / "chroma") if embedded else f"the Chroma server at {s.chroma.host}:{s.chroma.port}",
            path=Path(s.data_dir) / "chroma" if embedded else None,
        )  # fmt: skip

    @property
    def embed_model(self) -> "BaseEmbedding":
        if self._embed_model is None:
            self._embed_model = backends.embedding_model(self.settings.embedding)
        return self._embed_model

    # -- reading -----------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """What is indexed now; one question keeps one snapshot throughout."""
        return self.index.snapshot()

    def count(self) -> int:
        return len(self.snapshot().articles)

    def is_empty(self) -> bool:
        return self.snapshot().empty

    def stats(self) -> dict[str, int]:
        snap = self.snapshot()  # counted once, when the snapshot was built
        return {"articles": len(snap.articles), "chunks": snap.n_chunks}

    def documents(self) -> list[ArticleInfo]:
        return sorted((a.info() for a in self.index.articles().values()), key=lambda i: i.id)

    def infos(self, ids: Sequence[str]) -> list[ArticleInfo]:
        """The indexed articles among `ids`, once each, in that order."""
        stored = self.snapshot().articles
        return [stored[i].info() for i in dict.fromkeys(ids) if i in stored]

    def document(self, doc_id: str) -> StoredArticle:
        with self.store.reading():
            # a one-shot lookup (`qa docs show`) reads the record alone, never building the search index
            stored = (self.snapshot().articles.get(doc_id) if self.index.loaded else None) or self.store.get(doc_id)
        if stored is None:
            raise NotFound(f"no article with id {doc_id!r}")
        return stored

    def shown(self, doc_id: str) -> StoredArticle:
        """An article as a client sees it: a sentence addressed to AI systems masked character for
        character and a flagged title replaced by a note (qa.answer.injection), so offsets still hold."""
        from qa.answer.injection import mask, redact

        stored = self.document(doc_id)
        a = stored.article
        spans = [(s.start, s.end) for s in stored.layout.sentences]
        article = a.model_copy(update={"text": mask(a.text, spans), "title": redact(a.title)})
        return StoredArticle(article=article, hash=stored.hash, layout=stored.layout)

    # -- uploads -----------------------------------------------------------------------------------
    def parse_upload(self, name: str, data: bytes) -> Parsed:
        """An uploaded file's articles, read as `qa ingest` reads that format."""
        name = Path(name.replace("\\", "/")).name if name else "upload.txt"  # a browser may send a path
        return parse_bytes(data, name=name, source=UPLOADED + name, max_bytes=self.settings.ingest.max_file_bytes)

    def new_article(self, *, title: str, text: str, doc_id: str | None = None, url: str | None = None,
                    published: str | None = None, author: str | None = None) -> Article:  # fmt: skip
        """An article sent as fields; without an id, its id comes from the title."""
        if doc_id is not None and slugify(doc_id) != doc_id:
            raise BadId(f"id: use lowercase letters, digits and single dashes, such as {slugify(doc_id)!r}", "id")
        limit = self.settings.ingest.max_file_bytes
        if len(text.encode()) > limit:
            raise TooLarge(f"the article is too large (the limit is {limit} bytes)")
        return article_from_fields(doc_id=slugify(doc_id or title), title=title, text=text, source="api", url=url,
                                   published=published, author=author, id_given=doc_id is not None)  # fmt: skip

    # -- writing -----------------------------------------------------------------------------------
    def _ingestor(self) -> Ingestor:
        self.store.check_model()
        i = self.settings.ingest
        return Ingestor(store=self.store, embed_model=lambda: self.embed_model, chunk_chars=i.chunk_chars,
                        max_sentence_chars=i.max_sentence_chars)  # fmt: skip

    def _write(self, articles: Sequence[Article], current: dict[str, StoredArticle], *, replace: bool,
               progress: bool) -> tuple[list[Article], IngestReport]:  # fmt: skip
        """Give each article the id it is stored under (qa.ingest.identity), then index them."""
        named = identify(articles, current, replace=replace)
        report = self._ingestor().ingest(named, current=current, progress=progress) if named else IngestReport()
        report.renamed = {a.id: o.id for o, a in zip(articles, named) if a.id != o.id}
        report.ids = [report.duplicates.get(a.id, a.id) for a in named]
        give_back(report.sentences_embedded)  # before the caller's refresh counts a big text's words on top of it
        return named, report

    def fetch(self, url: str) -> Article:
        """The article at a link (fetched now, not yet indexed); a one-line error for anything else."""
        return fetch_article(url, self.settings)

    def ingest(self, paths: Sequence[Path], *, links: Sequence[str] = (), prune: bool = False, replace: bool = False,
               progress: bool = False) -> IngestReport:  # fmt: skip
        """`replace`: an article whose name's id another story holds replaces it, instead of being added beside it.
        `links` are fetched first (outside the index's write turn); one that fails is skipped with its reason."""
        cache = ParseCache(self.settings.data_dir / "cache" / "parsed")
        scan = read_paths(paths, max_bytes=self.settings.ingest.max_file_bytes, cache=cache)
        for url in links:
            try:
                scan.articles.append(self.fetch(url))
            except BadInput as exc:
                scan.skipped.append(Skipped(path=url, reason=str(exc)))
        if not scan.articles and not scan.skipped:
            raise BadInput(f"no articles found in {', '.join(map(str, paths))} (supported: .txt .md .html .jsonl .pdf .docx)")
        with self._write_lock, self.store.reading(), self.store.writing():
            writes = self.store.writes
            current = {a.id: a for a in self.store.load()}  # as it is now; no BM25 built for an ingest of nothing new
            scan.articles, report = self._write(scan.articles, current, replace=replace, progress=progress)
            after = self.index.refresh().articles if self.store.writes != writes else current
            if prune:  # with the stored ids: a file's article added as `bridge-2` is still its file's
                report.deleted = prune_missing(self.store, scan, roots=paths, current=after)
                if report.deleted:  # reload the registry only when pruning changed it
                    self.index.refresh()
            report.skipped = {s.path: s.reason for s in scan.skipped}
        give_back(report.sentences_embedded)
        return report

    def add(self, articles: Sequence[Article], *, replace: bool = False, progress: bool = False) -> IngestReport:
        """Index articles that did not come from files (API uploads, benchmarks)."""
        with self._write_lock, self.store.reading(), self.store.writing():
            _, report = self._write(articles, self.index.refresh().articles, replace=replace, progress=progress)
            self.index.refresh()
        give_back(report.sentences_embedded)
        return report

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """This process's and every other writer's turn (feed records change in it too)."""
        with self._write_lock, self.store.reading(), self.store.writing():
            yield

    def move(self, doc_id: str, to: str) -> tuple[StoredArticle, str | None]:
        """Give an article another id; the article holding that id, if any, is replaced (the page's
        "replace it" after an upload was added beside a story with the same name). Returns the moved
        article and the id of the one replaced."""
        if slugify(to) != to:
            raise BadId(f"to: use lowercase letters, digits and single dashes, such as {slugify(to)!r}", "to")
        with self._write_lock, self.store.reading(), self.store.writing():
            stored = self.store.get(doc_id)
            if stored is None:
                raise NotFound(f"no article with id {doc_id!r}")
            if to == doc_id:
                return stored, None
            held = self.store.get(to)
            moved = self.store.rename(stored, stored.article.model_copy(update={"id": to}), replacing=held)
            self.index.refresh()
        return moved, held.id if held is not None else None

    def delete(self, doc_id: str) -> None:
        with self._write_lock, self.store.reading(), self.store.writing():
            stored = self.store.get(doc_id)  # as it is now, not as the last snapshot saw it
            if stored is None:
                raise NotFound(f"no article with id {doc_id!r}")
            self.store.sweep(self.index.refresh().articles.values())  # what an earlier failed write left
            self.store.delete(stored)
            self.index.refresh()

    def reindex(self, *, progress: bool = False) -> IngestReport:
        """Re-embed every stored article with the configured model (after a model change)."""
        with self._write_lock, self.store.reading(), self.store.writing():
            articles = [s.article for s in self.store.load()]
            prefix = self.settings.chroma.collection
            for name in (f"{prefix}-sentences", f"{prefix}-texts", f"{prefix}-articles"):
                self.store.client.delete_collection(name)
            old, self.store = self.store, self._store()
            old.close(old.client)
            self.index = Index(self.store, cache_dir=self.index.cache_dir, candidates=self.index.candidates)
            report = self._ingestor().ingest(articles, current={}, progress=progress)
            self.index.refresh()
        return report
