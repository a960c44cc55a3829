"""Run the gold suite or a benchmark through the real engine and score it.

Each run gets its own Chroma collection (`eval-gold`, `bench-squad2`, ...) under QA_DATA_DIR, so
evals never touch the user's index, and a second run embeds nothing.

`mode="generative"` asks the configured LLM (its answers verified) instead of the extractive answerer;
the run is then named `<suite>-generative` (its own thresholds table and report) and also scores the
verifier's verdicts on every generated sentence.
"""

from __future__ import annotations

import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit, urlunsplit

from evals import benchmarks, gold
from evals.metrics import Metrics, Outcome, generated_sentences, summarize
from qa.config import ChromaSettings, LLMSettings, Settings
from qa.engine import QAEngine
from qa.errors import BadInput
from qa.schemas import Article, Mode, Turn, Verify

THRESHOLDS_FILE = Path(__file__).resolve().parent / "thresholds.toml"


@dataclass(frozen=True)
class Question:
    text: str
    answers: tuple[str, ...]
    gold_docs: frozenset[str]


@dataclass(frozen=True)
class Item:
    """One case: a question, or a conversation whose turns are asked in order."""

    id: str
    turns: tuple[Question, ...]
    tags: tuple[str, ...] = ()


class NoLLM(BadInput):
    """Generative mode was asked for and no LLM is configured (the engine's own message)."""


@dataclass
class Run:
    name: str
    outcomes: list[Outcome]
    records: list[dict]
    metrics: Metrics
    params: dict = field(default_factory=dict)


def check_mode(engine: QAEngine, mode: Mode) -> None:
    """Refuse a mode the engine cannot run, before anything is indexed or asked."""
    try:
        engine.resolve_mode(mode)
    except BadInput as err:
        if mode == "generative" and engine.writer is None:
            raise NoLLM(str(err)) from None
        raise


def engine_for(
    name: str, articles: Sequence[Article], settings: Settings | None = None, *, mode: Mode = "extractive", **kwargs
) -> QAEngine:  # fmt: skip
    """An engine on the collection `name`, holding exactly `articles` (re-runs embed nothing)."""
    base = settings or Settings()
    chroma = ChromaSettings(**(base.chroma.model_dump() | {"collection": name}))
    engine = QAEngine(base.model_copy(update={"chroma": chroma}), **kwargs)
    check_mode(engine, mode)
    report = engine.library.add(articles, progress=sys.stderr.isatty())
    if report.added or report.updated:
        print(f"indexed {len(report.added) + len(report.updated)} articles into {name} in {report.seconds:.1f}s", file=sys.stderr)
    wanted = {a.id for a in articles}
    for stale in [d.id for d in engine.library.documents() if d.id not in wanted]:
        engine.library.delete(stale)  # the collection mirrors this run's documents, nothing else
    return engine


def gold_items(suite: gold.GoldSuite) -> list[Item]:
    return [
        Item(case.id, tuple(Question(t.question, tuple(t.answers), frozenset([case.doc_id] if t.answers else []))
                            for t in case.turns), tuple(case.tags))
        for case in suite.cases
    ]  # fmt: skip


def benchmark_items(bench: benchmarks.Benchmark) -> list[Item]:
    return [Item(c.id, (Question(c.question, tuple(c.answers), c.doc_ids),)) for c in bench.cases]


def _sentence_record(verdict) -> dict:
    from qa.answer.verify import is_abstention

    c = verdict.claim
    return {
        "text": c.text, "markers": list(c.markers), "supported": verdict.supported, "reason": verdict.reason,
        "similarity": round(verdict.similarity, 4), "cited_supporting": verdict.cited_supporting,
        "invalid": list(verdict.invalid), "abstention": is_abstention(c.text),
    }  # fmt: skip


def ask_all(engine: QAEngine, items: Sequence[Item], *, mode: Mode = "extractive", verify: Verify | None = None) -> tuple[list[Outcome], list[dict]]:
    generative = mode == "generative"
    outcomes, records = [], []
    for item in items:
        history: list[Turn] = []
        for n, q in enumerate(item.turns):
            started = time.perf_counter()
            # the mode is always explicit: with an LLM configured the engine would otherwise pick generative
            trace = engine.trace(q.text, history=history, mode=mode, verify=verify)
            latency = (time.perf_counter() - started) * 1000
            a = trace.answer
            outcome = Outcome(
                answers=q.answers, gold_docs=q.gold_docs, ranked_docs=trace.ranked_docs, answer=a.answer,
                abstained=a.abstained, quotes=tuple(c.quote for c in a.citations),
                cited_docs=tuple(c.doc_id for c in a.citations), latency_ms=latency, support=trace.support,
                forced=trace.forced, candidate=trace.candidate, generated=generative,
                fell_back=generative and a.mode == "extractive", sentences=generated_sentences(trace.checks), turn=n + 1,
            )  # fmt: skip
            outcomes.append(outcome)
            extra = {"mode": a.mode, "warnings": list(a.warnings), "sentences": [_sentence_record(v) for v in trace.checks]} if generative else {}
            records.append({
                "id": item.id if len(item.turns) == 1 else f"{item.id}#{n + 1}",
                "question": q.text, "gold_answers": list(q.answers), "gold_docs": sorted(q.gold_docs),
                "tags": list(item.tags), "answer": a.answer, "abstained": a.abstained, "correct": outcome.correct,
                "citations": [{"id": c.id, "doc_id": c.doc_id, "quote": c.quote, "start": c.start, "end": c.end}
                              for c in a.citations],
                "ranked_docs": list(trace.ranked_docs[:5]), "support": round(trace.support, 4),
                "would_answer": None if not a.abstained else trace.candidate, "latency_ms": round(latency, 1),
                **extra,
            })  # fmt: skip
            history += [Turn(role="user", content=q.text), Turn(role="assistant", content=a.answer)]
    return outcomes, records


def public_url(url: str | None) -> str | None:
    """A URL fit for a report: no user name, password, query or fragment."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        netloc += f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port: leave it out
        pass
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def llm_params(llm: LLMSettings) -> dict:
    """Which LLM produced a generative run (never its key)."""
    return {"llm_backend": llm.backend, "llm_model": llm.model, "llm_base_url": public_url(llm.base_url)}


def run(engine: QAEngine, name: str, items: Sequence[Item], *, mode: Mode = "extractive", verify: Verify | None = None, **params) -> Run:
    check_mode(engine, mode)
    engine.warm_up()
    params["mode"] = mode
    if mode == "generative":
        verify = verify or engine.settings.llm.verify
        params |= {"verify": verify, "min_support": engine.settings.llm.min_support, **llm_params(engine.settings.llm)}
        name = f"{name}-generative"
    outcomes, records = ask_all(engine, items, mode=mode, verify=verify)
    a = engine.settings.answer
    params["answer_model"] = a.model
    params["abstain_threshold"] = a.model_threshold if a.model == "trained" else a.abstain_threshold
    return Run(name, outcomes, records, summarize(outcomes), params)


def run_gold(
    settings: Settings | None = None, *, path: Path | None = None, mode: Mode = "extractive",
    verify: Verify | None = None, distractors: str | None = None, **engine_kwargs,
) -> Run:  # fmt: skip
    """The gold suite over corpus/; with `distractors` (rgb, or a benchmark file) every article of
    that benchmark is indexed beside it, and the run is named gold-distractors."""
    from qa.ingest.readers import read_paths

    path = path or gold.GOLD_FILE
    settings = settings or Settings()
    suite = gold.load(path)
    scan = read_paths([Path(settings.corpus_dir)], max_bytes=settings.ingest.max_file_bytes)
    articles, name, params = scan.articles, "gold", {"file": str(path)}
    if distractors:
        extra = benchmarks.load(distractors, limit=None).articles
        articles, name, params = [*articles, *extra], "gold-distractors", params | {"distractors": len(extra)}
    engine = engine_for(f"eval-{name}", articles, settings, mode=mode, **engine_kwargs)
    return run(engine, name, gold_items(suite), mode=mode, verify=verify, **params)


def run_benchmark(
    name_or_path: str, *, limit: int | None, seed: int = 0, unanswerable: int = 0,
    settings: Settings | None = None, mode: Mode = "extractive", verify: Verify | None = None, **engine_kwargs,
) -> Run:  # fmt: skip
    bench = benchmarks.load(name_or_path, limit=limit, seed=seed, unanswerable=unanswerable)
    engine = engine_for(f"bench-{bench.name}", bench.articles, settings, mode=mode, **engine_kwargs)
    return run(engine, bench.name, benchmark_items(bench), mode=mode, verify=verify, limit=limit, seed=seed, unanswerable=unanswerable)


# -- thresholds ------------------------------------------------------------------------------------
def load_thresholds(path: Path | None = None) -> dict[str, dict[str, dict[str, float]]]:
    return tomllib.loads(Path(path or THRESHOLDS_FILE).read_text(encoding="utf-8"))


def _flat(bounds: dict, prefix: str = "") -> list[tuple[str, float]]:
    """`generation.citation_f1 = 0.8` (or a `[run.min.generation]` table) names `generation.citation_f1`."""
    out = []
    for key, value in bounds.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((prefix + key, value))
    return out


def failures(run: Run, thresholds: dict) -> list[str]:
    """Each metric that crosses its floor (`min`) or ceiling (`max`) for this run's name (generative
    runs are `<suite>-generative`: the extractive tables do not apply to them)."""
    limits = thresholds.get(run.name, {})
    values = run.metrics.values()
    out = []
    for kind, bounds in limits.items():
        for metric, bound in _flat(bounds):
            if metric not in values:
                raise ValueError(f"thresholds: {run.name}.{kind}.{metric} is not a metric")
            value = values[metric]
            bad = value < bound if kind == "min" else value > bound
            if bad or value != value:  # nan: the metric could not be measured
                out.append(f"{metric} = {value:.3f}, {'below the floor' if kind == 'min' else 'above the ceiling'} {bound}")
    return out
