"""Articles -> sentence-aware chunks with offsets -> sentence embeddings -> Chroma; idempotent by hash.

Unchanged text is skipped before anything is embedded; a changed article has its old sentences
replaced; the same text under two ids is stored once. Each article is written on its own, so a
failure part-way loses at most that article's update and never leaves half of it visible.
"""

from __future__ import annotations

import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from qa.index.store import Store, StoredArticle, sentence_id
from qa.ingest.readers import CorpusScan
from qa.progress import LOADING, Progress, plural, status
from qa.schemas import Article, IngestReport
from qa.text import MAX_SENTENCE_CHARS, layout

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import TextNode

log = logging.getLogger(__name__)
_GROUP_SENTENCES = 512  # embed several small articles in one batch; torch calls have fixed overhead


def sentence_nodes(stored: StoredArticle) -> list["TextNode"]:
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    text = stored.article.text
    return [
        TextNode(
            id_=sentence_id(stored.hash, j),
            text=text[s.start : s.end],
            start_char_idx=s.start,
            end_char_idx=s.end,
            metadata={"hash": stored.hash, "sent": j, "chunk": s.chunk},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=stored.hash)},
        )
        for j, s in enumerate(stored.layout.sentences)
    ]


def _file_of(source: str) -> Path | None:
    return Path(source).resolve() if source != "api" else None


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


class Ingestor:
    def __init__(self, *, store: Store, embed_model: "Callable[[], BaseEmbedding]", chunk_chars: int,
                 max_sentence_chars: int = MAX_SENTENCE_CHARS) -> None:  # fmt: skip
        self.store = store
        self._embed_model = embed_model  # loaded only when something is to be embedded: an ingest of nothing new is instant
        self.chunk_chars = chunk_chars
        self.max_sentence_chars = max_sentence_chars

    def stored(self, article: Article) -> StoredArticle:
        cut = layout(article.text, chunk_chars=self.chunk_chars, max_sentence_chars=self.max_sentence_chars)
        return StoredArticle(article=article, hash=article.hash, layout=cut)

    def ingest(
        self, articles: Sequence[Article], *, current: dict[str, StoredArticle], progress: bool = False
    ) -> IngestReport:
        """Write `articles` against the `current` registry contents; returns what changed."""
        started = time.perf_counter()
        report = IngestReport()
        self.store.sweep(list(current.values()))
        by_hash = {a.hash: a for a in current.values()}
        todo: list[tuple[StoredArticle, StoredArticle | None]] = []
        for article in articles:
            existing = current.get(article.id)
            twin = by_hash.get(article.hash)
            if twin is not None and twin.id == article.id:
                if twin.article != article:  # same text, new title/url/source
                    self.store.rename(twin, article)
                report.unchanged.append(article.id)
            elif twin is not None and existing is None and self._moved(twin):
                by_hash[article.hash] = self.store.rename(twin, article)
                report.updated.append(article.id)
            elif twin is not None:
                report.duplicates[article.id] = twin.id
            else:
                stored = self.stored(article)
                by_hash[stored.hash] = stored
                todo.append((stored, existing))
        self._write(todo, report, progress=progress)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _moved(self, twin: StoredArticle) -> bool:
        path = _file_of(twin.article.source)
        return path is not None and not path.exists()

    def _groups(self, todo: list[tuple[StoredArticle, StoredArticle | None]]) -> Iterator[list]:
        group, size = [], 0
        for item in todo:
            group.append(item)
            size += len(item[0].layout.sentences)
            if size >= _GROUP_SENTENCES:
                yield group
                group, size = [], 0
        if group:
            yield group

    def _write(self, todo: list, report: IngestReport, *, progress: bool) -> None:
        """`progress`: a bar on a terminal, else a plain line now and then (qa.progress). It counts
        sentences, updated per embedding batch: a group of small articles is one write."""
        if not todo:
            return  # nothing to embed: the model is never loaded
        with status(LOADING, enabled=progress):
            model = self._embed_model()
        total = sum(len(stored.layout.sentences) for stored, _ in todo)

        def embedded(group: list) -> tuple[list, dict]:
            nodes = {stored.id: sentence_nodes(stored) for stored, _ in group}
            flat = [n for ns in nodes.values() for n in ns]
            for node, vector in zip(flat, _embed_by_length(model, [n.text for n in flat], done=bar.update)):
                node.embedding = vector
            return group, nodes

        # A pipeline: the next group is embedded (onnxruntime, which releases the GIL) while this one is
        # written to Chroma. Groups still commit one after another, in order.
        with Progress(total, f"indexing {plural(len(todo), 'article')}", "sentence", enabled=progress) as bar, \
                ThreadPoolExecutor(1, thread_name_prefix="embed") as pool:  # fmt: skip
            pending = None
            for upcoming in itertools.chain(self._groups(todo), [None]):
                ready = pending.result() if pending is not None else None
                pending = pool.submit(embedded, upcoming) if upcoming is not None else None
                if ready is not None:
                    self._commit(*ready, report)

    def _commit(self, group: list, nodes: dict, report: IngestReport) -> None:
        flat = [n for ns in nodes.values() for n in ns]
        if flat:
            self.store.record_dim(len(flat[0].embedding))
        self.store.put([(stored, nodes[stored.id], previous) for stored, previous in group])
        for stored, previous in group:
            (report.updated if previous else report.added).append(stored.id)
        report.sentences_embedded += len(flat)


def _embed_by_length(
    model: "BaseEmbedding", texts: list[str], done: Callable[[int], None] | None = None
) -> list[list[float]]:  # fmt: skip
    """Embed in batches of similar length, returned in the given order: a batch is padded to its
    longest text, so mixing a headline with a long sentence wastes most of the batch. Called one
    model batch at a time (the same batches, so the same vectors) so that `done` can count them."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    ordered = [texts[i] for i in order]
    step = max(1, getattr(model, "embed_batch_size", 64))
    vectors: list[list[float]] = []
    for k in range(0, len(ordered), step):
        vectors += model.get_text_embedding_batch(ordered[k : k + step])
        if done is not None:
            done(len(ordered[k : k + step]))
    out: list[list[float]] = [[] for _ in texts]
    for i, vector in zip(order, vectors):
        out[i] = vector
    return out


def prune(store: Store, scan: CorpusScan, *, roots: Sequence[Path], current: dict[str, StoredArticle]) -> list[str]:
    """Delete articles whose file under `roots` is gone, or no longer holds them (jsonl)."""
    read: dict[Path, set[str]] = defaultdict(set)
    for a in scan.articles:
        read[Path(a.source).resolve()].add(a.id)
    # a file with a bad record keeps what it had: the record may be one that is stored
    failed = {Path(s.file or s.path).resolve() for s in scan.skipped}
    roots = [r.resolve() for r in roots]
    gone = []
    for stored in current.values():
        path = _file_of(stored.article.source)
        if path is None or not _under(path, roots) or path in failed:
            continue
        if stored.id not in read.get(path, set()):
            store.delete(stored)
            gone.append(stored.id)
    return gone
