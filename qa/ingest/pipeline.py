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
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from qa.index.store import Store, StoredArticle, same_fields, sentence_id
from qa.ingest.identity import file_of
from qa.ingest.readers import CorpusScan
from qa.progress import LOADING, Progress, plural, status
from qa.schemas import Article, IngestReport
from qa.text import MAX_SENTENCE_CHARS, layout

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import TextNode

log = logging.getLogger(__name__)
_GROUP_SENTENCES = 512  # embed several small articles in one batch; model calls have fixed overhead
# Sentences embedded and written at once: a big article streams through in batches, so an ingest's
# memory does not grow with its largest article (its vectors and nodes were all held: about 1 GB for 5 MB).
_BATCH_SENTENCES = 512
# Characters² per embedding batch: 16 texts of 256 characters, 64 of 128, one chunk of 1,000. onnxruntime's
# arena keeps what the largest batch needed: four chunks of 1,000 characters at once grew it by about 20 MB
# for good, one at a time by 3 MB, at the same speed (issue 21).
_ATTENTION_BUDGET = 16 * 256**2


def sentence_nodes(stored: StoredArticle, vectors: range) -> list["TextNode"]:
    """Nodes of the vectors numbered in `vectors`: each a sentence, or a chunk of a long article."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    cut = stored.layout.sentences
    return [
        TextNode(
            id_=sentence_id(stored.hash, run.start),
            text=stored.text_of(run),
            start_char_idx=cut[run.start].start,
            end_char_idx=cut[run[-1]].end,
            metadata={"hash": stored.hash, "sent": run.start, "chunk": cut[run.start].chunk, "sentences": len(run)},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=stored.hash)},
        )
        for run in stored.vector_runs(vectors)
    ]


Window = list[tuple[StoredArticle, range]]  # sentences of one or more articles, embedded and written together


def _windows(group: list, size: int = _BATCH_SENTENCES) -> Iterator[Window]:
    """A group's vectors in runs of at most `size`, a big article's cut across several."""
    window: Window = []
    room = size
    for stored, _ in group:
        start, n = 0, stored.vector_count
        while start < n:
            take = range(start, min(n, start + room))
            window.append((stored, take))
            room -= len(take)
            start = take.stop
            if room == 0:
                yield window
                window, room = [], size
    if window:
        yield window


def _ahead(pool: ThreadPoolExecutor, fn: Callable, items: Iterable) -> Iterator:
    """`fn` of each item, the next one computed in `pool` while the caller uses this one: two at most
    are held at a time."""
    pending = None
    for item in items:
        ready = pending.result() if pending is not None else None
        pending = pool.submit(fn, item)
        if ready is not None:
            yield ready
    if pending is not None:
        yield pending.result()


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
                if not same_fields(twin, article):  # same text, new title/url/source
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
        path = file_of(twin.article.source)
        return path is not None and not path.exists()

    def _groups(self, todo: list[tuple[StoredArticle, StoredArticle | None]]) -> Iterator[list]:
        group, size = [], 0
        for item in todo:
            group.append(item)
            size += item[0].vector_count
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

        def embedded(window: Window) -> list["TextNode"]:
            nodes = [n for stored, run in window for n in sentence_nodes(stored, run)]
            counts = [n.metadata["sentences"] for n in nodes]
            for node, vector in zip(nodes, _embed_by_length(model, [n.text for n in nodes], done=bar.update, counts=counts)):
                node.embedding = vector
            return nodes

        # A pipeline: the next window is embedded (onnxruntime, which releases the GIL) while this one is
        # written to Chroma. Groups still commit one after another, in order.
        # windows fill across a group's articles, so a group of n sentences makes ceil(n / size) of them
        groups = [(group, -(-sum(s.vector_count for s, _ in group) // _BATCH_SENTENCES)) for group in self._groups(todo)]
        with Progress(total, f"indexing {plural(len(todo), 'article')}", "sentence", enabled=progress) as bar, \
                ThreadPoolExecutor(1, thread_name_prefix="embed") as pool:  # fmt: skip
            stream = _ahead(pool, embedded, (w for group, _ in groups for w in _windows(group)))
            for group, n in groups:
                self._commit(group, itertools.islice(stream, n), report)

    def _commit(self, group: list, batches: Iterator[list["TextNode"]], report: IngestReport) -> None:
        def dim_recorded() -> Iterator[list["TextNode"]]:
            for k, nodes in enumerate(batches):
                if k == 0 and nodes:
                    self.store.record_dim(len(nodes[0].embedding))
                yield nodes

        self.store.put(group, dim_recorded())
        for stored, previous in group:
            (report.updated if previous else report.added).append(stored.id)
        report.sentences_embedded += sum(len(stored.layout.sentences) for stored, _ in group)


def _embed_by_length(
    model: "BaseEmbedding", texts: list[str], done: Callable[[int], None] | None = None, counts: list[int] | None = None
) -> list[list[float]]:  # fmt: skip
    """Embed in batches of similar length, returned in the given order: a batch is padded to its
    longest text, so mixing a headline with a long sentence wastes most of the batch. Called one
    model batch at a time (the same batches, so the same vectors) so that `done` can count the
    sentences they hold (`counts`, one each by default)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    ordered = [texts[i] for i in order]
    step = max(1, getattr(model, "embed_batch_size", 64))
    vectors: list[list[float]] = []
    k = 0
    while k < len(ordered):
        # fewer texts per batch the longer they are: attention holds batch x length² scores, so 64 chunks of
        # a long article at once would hold 16 times what 64 sentences of a quarter their length do
        n = min(step, len(ordered) - k)
        while n > 1 and n * len(ordered[k + n - 1]) ** 2 > _ATTENTION_BUDGET:
            n -= 1
        vectors += model.get_text_embedding_batch(ordered[k : k + n])
        if done is not None:
            done(sum(counts[i] for i in order[k : k + n]) if counts else n)
        k += n
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
        path = file_of(stored.article.source)
        if path is None or not _under(path, roots) or path in failed:
            continue
        if stored.id not in read.get(path, set()):
            store.delete(stored)
            gone.append(stored.id)
    return gone
