"""QAEngine: questions in, answers out. The articles themselves are the Library's (qa/library.py)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, AbstractSet, Callable, Iterable, Iterator, Sequence

from qa import backends
from qa.answer.extractive import ABSTAIN_TEXT, Draft, ExtractiveAnswerer
from qa.answer.followup import resolve
from qa.answer.generative import Generation, LLMFailed, Writer
from qa.answer.periods import Period, asked_time
from qa.answer.prompts import Prompts
from qa.answer.verify import Verdict, Verifier
from qa.config import Settings
from qa.errors import BadInput, EmptyIndex
from qa.index.passages import Passage
from qa.index.retriever import HybridRetriever
from qa.index.snapshot import Snapshot
from qa.index.store import StoredArticle, reachable
from qa.library import Library
from qa.schemas import Answer, Citation, Delta, Filters, Mode, Scope, SentenceCheck, Turn, Verified, Verify
from qa.text import check_question, date_label, published_date

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore


Event = Delta | SentenceCheck | Verified | Answer
CHARS_PER_TOKEN = 8  # generous: a reply longer than max_tokens * this ignored the limit
RANK_DEPTH = 15  # passages ranked per question, so the evals see articles beyond the answer's top_k


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def citations(draft: Draft) -> list[Citation]:
    """Number the picks: each citation quotes, and highlights, exactly its own sentence."""
    return [pick.passage.citation(n, pick.start, pick.end, pick.support) for n, pick in enumerate(draft.picks, 1)]


def answer_text(cites: Sequence[Citation]) -> str:
    """The quotes with their [n] markers. A dated answer says when it was reported ("As of 26 Aug 2021:"),
    and a quote from an article of another day after it says so too ("Earlier, as of ...:"); the quotes stay exact."""
    first = published_date(cites[0].published) if cites else None
    parts = []
    for i, c in enumerate(cites):
        day, label = published_date(c.published), ""
        if i == 0 and day is not None:
            label = f"As of {date_label(c.published)}: "
        elif i and day is not None and first is not None and day != first and c.doc_id != cites[0].doc_id:
            label = f"{'Earlier' if day < first else 'Later'}, as of {date_label(c.published)}: "
        parts.append(f"{label}{c.quote} [{c.id}]")
    return " ".join(parts)


def dated_in(articles: Iterable[StoredArticle], period: Period) -> bool:
    """Whether any of `articles` is dated in `period`."""
    return any((day := published_date(s.article.published)) is not None and period.holds(day) for s in articles)


def period_hashes(articles: Sequence[StoredArticle], period: Period) -> frozenset[str] | None:
    """The articles a question naming `period` is asked within first: those dated in it, and undated ones
    (they may be of that time). None when no article is dated in it, or when it would leave none out."""
    keep = [s.hash for s in articles if (day := published_date(s.article.published)) is None or period.holds(day)]
    if len(keep) == len(articles) or not dated_in(articles, period):
        return None
    return frozenset(keep)


@dataclass(frozen=True)
class Trace:
    answer: Answer
    ranked_docs: tuple[str, ...]  # retrieved articles, best first
    support: float
    forced: bool  # abstained whatever the threshold: nothing retrieved is about the question, or a date or number asked for is missing
    candidate: str  # the answer it would give without abstaining
    candidate_docs: tuple[str, ...]
    checks: tuple[Verdict, ...] = ()  # generative mode: every generated sentence's verdict


class QAEngine:
    def __init__(self, settings: Settings, *, library: Library | None = None, embed_model: "BaseEmbedding | None" = None,
                 check_model: bool = True):  # fmt: skip
        self.settings = settings
        self.library = library or Library(settings, embed_model=embed_model, check_model=check_model)
        self.answerer = ExtractiveAnswerer(settings.answer, backends.answer_model(settings.answer))
        self.today: Callable[[], dt.date] = dt.date.today  # what "last year" counts from; the evals pin it
        # Prompts are loaded and checked now: a broken template fails start-up, not an answer.
        llm = backends.llm(settings.llm)
        self.writer = (
            Writer(llm, Prompts(settings.prompts_dir, abstain_text=ABSTAIN_TEXT, max_sentences=settings.answer.max_sentences)) if llm else None
        )

    @property
    def embed_model(self) -> "BaseEmbedding":
        return self.library.embed_model

    def warm_up(self) -> None:
        """Load the model and the index now rather than on the first question."""
        self.embed_model.get_query_embedding("warm up")
        if self.answerer.model is not None:
            self.answerer.model.warm_up()
        self.library.snapshot()

    def retriever(self, *, top_k: int | None = None, snapshot: Snapshot | None = None, exact_top: int | None = None,
                  vector_store: "ChromaVectorStore | None" = None, all_vectors: bool = False,
                  allowed: AbstractSet[str] | None = None) -> HybridRetriever:  # fmt: skip
        """`snapshot` pins what one question sees, so a concurrent ingest cannot change it midway."""
        r = self.settings.retrieval
        return HybridRetriever(
            snapshot=(lambda: snapshot) if snapshot else self.library.snapshot,
            vector_store=vector_store or self.library.store.vector_store, embed_model=self.embed_model,
            top_k=top_k or r.top_k, candidates=r.candidates, dense_weight=r.dense_weight, exact_top=exact_top,
            all_vectors=all_vectors, allowed=allowed, fresh=self.library.index.fresh, holds=self.library.store.holds,
        )  # fmt: skip

    # -- questions ---------------------------------------------------------------------------------
    def check_question(self, question: object) -> str:
        """The one check of a question (CLI, API, page): its text, stripped, or BadInput."""
        return check_question(question, self.settings.max_question_chars)

    def check_filters(self, filters: Filters, snap: Snapshot | None = None) -> list[StoredArticle]:
        """The articles within `filters`, or BadInput when there are none."""
        within = (snap or self.library.snapshot()).within(filters)
        if not within:
            raise BadInput("no indexed article is within these filters (doc_ids, sources, since, until)")
        return within

    def resolve_mode(self, mode: str | None) -> Mode:
        """The mode a question runs in; generative without an LLM is refused before any work."""
        if mode is None:
            return "generative" if self.writer else "extractive"
        if mode not in ("extractive", "generative"):
            raise BadInput(f"unknown mode {mode!r}: use extractive or generative")
        if mode == "generative" and self.writer is None:
            raise BadInput("generative mode needs an LLM: set QA_LLM_BACKEND and QA_LLM_MODEL (see the README)")
        return mode

    # `mode`: extractive or generative (default: generative when an LLM is configured); `verify`: strict
    # or flag (default QA_LLM_VERIFY). Both only matter to generative answers.
    def ask(self, question: str, *, history: Sequence[Turn] = (), top_k: int | None = None,
            mode: Mode | None = None, verify: Verify | None = None, filters: Filters | None = None) -> Answer:  # fmt: skip
        return self.trace(question, history=history, top_k=top_k, mode=mode, verify=verify, filters=filters).answer

    def trace(self, question: str, *, history: Sequence[Turn] = (), top_k: int | None = None,
              mode: Mode | None = None, verify: Verify | None = None, filters: Filters | None = None) -> "Trace":  # fmt: skip
        """`ask`, plus what the evals need: the ranking and what an abstention would have said."""
        *_, trace = self._run(question, history=history, top_k=top_k, mode=mode, verify=verify, stream=False,
                              filters=filters)  # fmt: skip
        return trace

    def stream(self, question: str, *, history: Sequence[Turn] = (), top_k: int | None = None,
               mode: Mode | None = None, verify: Verify | None = None, filters: Filters | None = None) -> Iterator[Event]:  # fmt: skip
        """Generative: Delta (the draft), SentenceCheck and Verified pieces as they come, then the Answer.
        Extractive: the Answer alone."""
        for event in self._run(question, history=history, top_k=top_k, mode=mode, verify=verify, stream=True, filters=filters):
            yield event.answer if isinstance(event, Trace) else event

    def _run(self, question: str, *, history: Sequence[Turn], top_k: int | None, mode: Mode | None,
             verify: Verify | None, stream: bool, filters: Filters | None = None) -> Iterator["Event | Trace"]:  # fmt: skip
        q = self.check_question(question)
        mode = self.resolve_mode(mode)
        snap = self.library.snapshot()
        self.embed_model  # noqa: B018 -- a first question loads the model; its timings should not count that
        started = time.perf_counter()
        if snap.empty:
            raise EmptyIndex("nothing is indexed yet: run `qa ingest` first")
        filters = None if filters is None or filters.empty else filters
        within = self.check_filters(filters, snap) if filters is not None else None
        deadline = time.monotonic() + self.settings.llm.timeout
        warnings: list[str] = []
        asked, context, condense_failed = q, "", False
        if mode == "generative" and history:
            try:
                asked = self.writer.condense(q, history, deadline=deadline, limit=self.settings.max_question_chars)
            except LLMFailed as err:
                condense_failed = True
                warnings.append(f"the LLM could not rewrite the follow-up ({err}); the conversation was used instead")
        if asked == q and history:  # no LLM rewrote it: replace its pronouns with what they refer to
            asked, context = resolve(q, history)
        searched = f"{asked} {context}" if context else asked
        condensed = time.perf_counter()
        k = top_k or self.settings.retrieval.top_k
        timed = asked_time(asked, self.today())
        first = snap

        def select(snap: Snapshot, *, by_period: bool) -> frozenset[str] | None:
            scoped = within if snap is first else snap.within(filters) if filters is not None else None
            if by_period:
                return period_hashes(scoped if scoped is not None else list(snap.articles.values()), timed.period)
            return None if scoped is None else frozenset(s.hash for s in scoped)

        # A question naming a time asks within it first (articles dated in it, and undated ones), when some
        # article is dated in it; their dates then stand for its words, which are left out of the search.
        plain, by_period = asked, False
        if timed.period is not None:
            if dated_in(within if within is not None else snap.articles.values(), timed.period):
                plain, by_period = timed.without(asked), select(snap, by_period=True) is not None
        query = f"{plain} {context}" if context else plain
        spent = {"retrieve": 0.0, "answer": 0.0}
        for attempt in (True, False) if by_period else (False,):
            t0 = time.perf_counter()
            hits, snap = self._retrieve(query, snap, k, verified=mode == "generative",
                                        select=lambda s, p=attempt: select(s, by_period=p))  # fmt: skip
            t1 = time.perf_counter()
            passages = hits[:k]
            others = hits[k:]  # they vote on the answer; only the top k are quoted
            draft = self.answerer.answer(plain, passages, snap=snap, context=context, others=others, asked=timed)
            spent["retrieve"] += t1 - t0
            spent["answer"] += time.perf_counter() - t1
            if not (attempt and draft.abstained):
                break
            by_period = False  # nothing of that time answers: any time may, the nearest report first
            warnings.append(f"no article dated {timed.period.label} answers this; articles of any date were searched")
        ranked = tuple(dict.fromkeys(p.stored.id for p in hits))
        cites = citations(draft)
        candidate = answer_text(cites)
        done = time.perf_counter()
        timings = {part: _ms(seconds) for part, seconds in spent.items()}
        if asked != q or condense_failed:  # the LLM rewrote the follow-up, or tried to
            timings = {"condense": _ms(condensed - started), **timings}
        answer = Answer(
            question=q, answer=ABSTAIN_TEXT if draft.abstained else candidate, abstained=draft.abstained,
            citations=[] if draft.abstained else cites, resolved_question=searched if searched != q else None,
            timings_ms=timings, warnings=warnings,
            scope=Scope(filters=filters, articles=len(within)) if filters else None,
            period=timed.period.label if by_period else None,
        )  # fmt: skip
        checks: tuple[Verdict, ...] = ()
        if mode == "generative":
            generation = Generation(
                self.writer, self.verifier(snap), asked, answer, passages, forced=draft.forced,
                verify=verify or self.settings.llm.verify, stream=stream, deadline=deadline,
                max_chars=self.settings.llm.max_tokens * CHARS_PER_TOKEN,
            )  # fmt: skip
            for event in generation:
                if isinstance(event, Answer):
                    answer = event
                else:
                    yield event
            checks = generation.verdicts
            answer.timings_ms["generate"] = _ms(time.perf_counter() - done)
        answer.timings_ms["total"] = _ms(time.perf_counter() - started)
        yield Trace(answer, ranked, draft.support, draft.forced, candidate, tuple(c.doc_id for c in cites), checks)

    def _retrieve(self, text: str, snap: Snapshot, k: int, *, verified: bool,
                  select: Callable[[Snapshot], frozenset[str] | None]) -> tuple[list[Passage], Snapshot]:  # fmt: skip
        """A snapshot that another process's write made stale is reloaded and the search run again: never an error.
        `select` gives the content hashes a snapshot's search is limited to (None: all)."""
        from chromadb.errors import ChromaError

        library = self.library
        allowed = select(snap)
        for attempt in range(2):
            generation = library.store.generation
            try:
                with reachable(), library.store.searching() as vectors:
                    retriever = self.retriever(top_k=max(k, RANK_DEPTH), snapshot=snap, exact_top=k, vector_store=vectors,
                                               all_vectors=verified, allowed=allowed)  # fmt: skip
                    return retriever.passages(text), snap
            except ChromaError:
                if attempt:
                    raise
                snap = library.index.refresh(reopen_from=generation)
                allowed = select(snap)
        raise AssertionError("unreachable")

    def verifier(self, snap: Snapshot) -> Verifier:
        """Checks generated sentences against passages; their sentence vectors came with them from the retriever."""
        return Verifier(
            embed=self.embed_model.get_text_embedding_batch, common_words=snap.common_words,
            min_support=self.settings.llm.min_support,
        )  # fmt: skip
