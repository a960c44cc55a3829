"""Run the gold suite or a benchmark through the real engine and score it.

Each run gets its own Chroma collection (`eval-gold`, `bench-squad2`, ...) under QA_DATA_DIR, so
evals never touch the user's index, and a second run embeds nothing.

`mode="generative"` asks the configured LLM (its answers verified) instead of the extractive answerer;
the run is then named `<suite>-generative` (its own thresholds table and report) and also scores the
verifier's verdicts on every generated sentence.

A run's floors hold only for the sample they were set for (`[<run>.sample]` in thresholds.toml): another
sample prints its metrics and says why the floors were not applied (`gate`).
"""

from __future__ import annotations

import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from evals import benchmarks, gold
from evals.metrics import Metrics, Outcome, generated_sentences, summarize
from qa.config import ChromaSettings, LLMSettings, Settings
from qa.engine import QAEngine
from qa.errors import BadInput
from qa.progress import LOADING, Progress, plural, status
from qa.schemas import Article, Filters, Mode, Turn, Verify

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
    filters: Filters | None = None


class NoLLM(BadInput):
    """Generative mode was asked for and no LLM is configured (the engine's own message)."""


class BadThresholds(BadInput, ValueError):
    """A thresholds file that cannot be read, or names a metric or sample key that does not exist."""


@dataclass(frozen=True)
class Sample:
    """Which questions a run asked, in the terms its floors are set for."""

    kind: str  # "gold" or "benchmark"
    file: Path  # the gold suite or benchmark file
    answerable: int  # answerable questions asked (gold: every answerable turn)
    unanswerable: int
    available: tuple[int, int]  # answerable and unanswerable questions the file holds
    seed: int | None = None  # None: no choice was made (every question of a kind, or none of it)
    distractors: Path | None = None  # gold-distractors: the benchmark indexed beside corpus/

    def files(self) -> tuple[Path, Path | None]:
        return self.file.resolve(), self.distractors.resolve() if self.distractors else None

    def key(self) -> tuple:
        return self.files(), self.answerable, self.unanswerable, self.seed

    def describe(self, *, with_file: bool) -> str:
        parts = [_shown(self.file)] if with_file or self.kind == "gold" else []
        if self.distractors:
            parts.append(f"--distractors {_shown(self.distractors)}")
        if self.kind == "benchmark":
            all_a, all_u = self.available
            kind = "answerable questions" if all_u else "questions"
            parts.append(f"--limit {self.answerable}" if self.answerable < all_a else f"all {self.answerable} {kind}")
            parts += [f"--unanswerable {self.unanswerable}"] if self.unanswerable else []
            parts += [f"--seed {self.seed}"] if self.seed is not None else []
        return " ".join(parts)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _sample(kind: str, file: Path, available: tuple[int, int], answerable: int, unanswerable: int, seed: int,
            distractors: Path | None = None) -> Sample:  # fmt: skip
    """The seed only matters when it chose: fewer questions of a kind than the file holds, but some."""
    chose = answerable < available[0] or 0 < unanswerable < available[1]
    return Sample(kind, file, answerable, unanswerable, available, seed if chose else None, distractors)


@dataclass
class Run:
    name: str
    outcomes: list[Outcome]
    records: list[dict]
    metrics: Metrics
    params: dict = field(default_factory=dict)
    sample: Sample | None = None


def check_mode(engine: QAEngine, mode: Mode) -> None:
    """Refuse a mode the engine cannot run, before anything is indexed or asked."""
    try:
        engine.resolve_mode(mode)
    except BadInput as err:
        if mode == "generative" and engine.writer is None:
            raise NoLLM(str(err)) from None
        raise


def engine_for(
    name: str, articles: Sequence[Article], settings: Settings | None = None, *, mode: Mode = "extractive",
    why: str = "", **kwargs,
) -> QAEngine:  # fmt: skip
    """An engine on the collection `name`, holding exactly `articles` (re-runs embed nothing). `why`: said
    when articles are to be indexed, after what is said anyway."""
    base = settings or Settings()
    chroma = ChromaSettings(**(base.chroma.model_dump() | {"collection": name}))
    with status(LOADING):  # the answer model, when it is used, loads with the engine
        engine = QAEngine(base.model_copy(update={"chroma": chroma}), **kwargs)
        check_mode(engine, mode)
    if (held := engine.library.count()) < len(articles):
        print(f"indexing {plural(len(articles) - held, 'article')} into {name} once; later runs reuse them{why}", file=sys.stderr)
    # replace: a benchmark's ids are its own (paragraph ids), so an article of another benchmark run earlier
    # under the same id is this one's old text, not another story to be added beside it as "-2"
    report = engine.library.add(articles, replace=True, progress=True)  # a bar on a terminal, else a line now and then
    if report.added or report.updated:
        done = plural(len(report.added) + len(report.updated), "article")
        print(f"indexed {done} into {name} in {report.seconds:.1f}s", file=sys.stderr)
    wanted = {a.id for a in articles}
    for stale in [d.id for d in engine.library.documents() if d.id not in wanted]:
        engine.library.delete(stale)  # the collection mirrors this run's documents, nothing else
    return engine


def gold_items(suite: gold.GoldSuite) -> list[Item]:
    return [
        Item(case.id, tuple(Question(t.question, tuple(t.answers), frozenset([case.doc_id] if t.answers else []))
                            for t in case.turns), tuple(case.tags), case.filters)
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


def ask_all(engine: QAEngine, items: Sequence[Item], *, mode: Mode = "extractive", verify: Verify | None = None,
            progress: bool = True) -> tuple[list[Outcome], list[dict]]:  # fmt: skip
    with Progress(sum(len(i.turns) for i in items), "asking", "question", enabled=progress) as bar:
        return _ask_all(engine, items, mode=mode, verify=verify, done=bar.update)


def _ask_all(
    engine: QAEngine, items: Sequence[Item], *, mode: Mode, verify: Verify | None, done: Callable[[int], None]
) -> tuple[list[Outcome], list[dict]]:  # fmt: skip
    generative = mode == "generative"
    outcomes, records = [], []
    for item in items:
        history: list[Turn] = []
        scope = None if item.filters is None else frozenset(a.id for a in engine.library.snapshot().within(item.filters))
        for n, q in enumerate(item.turns):
            started = time.perf_counter()
            # the mode is always explicit: with an LLM configured the engine would otherwise pick generative
            trace = engine.trace(q.text, history=history, mode=mode, verify=verify, filters=item.filters)
            latency = (time.perf_counter() - started) * 1000
            a = trace.answer
            outcome = Outcome(
                answers=q.answers, gold_docs=q.gold_docs, ranked_docs=trace.ranked_docs, answer=a.answer,
                abstained=a.abstained, quotes=tuple(c.quote for c in a.citations),
                cited_docs=tuple(c.doc_id for c in a.citations), latency_ms=latency, support=trace.support,
                forced=trace.forced, candidate=trace.candidate, generated=generative,
                fell_back=generative and a.mode == "extractive", sentences=generated_sentences(trace.checks), turn=n + 1,
                scope=scope,
            )  # fmt: skip
            outcomes.append(outcome)
            extra = {"mode": a.mode, "warnings": list(a.warnings), "sentences": [_sentence_record(v) for v in trace.checks]} if generative else {}
            records.append({
                "id": item.id if len(item.turns) == 1 else f"{item.id}#{n + 1}",
                "question": q.text, "gold_answers": list(q.answers), "gold_docs": sorted(q.gold_docs),
                "tags": list(item.tags), **({"filters": item.filters.model_dump(mode="json", exclude_none=True)} if item.filters else {}),
                "answer": a.answer, "abstained": a.abstained, "correct": outcome.correct,
                "citations": [{"id": c.id, "doc_id": c.doc_id, "quote": c.quote, "start": c.start, "end": c.end}
                              for c in a.citations],
                "ranked_docs": list(trace.ranked_docs[:5]), "support": round(trace.support, 4),
                "would_answer": None if not a.abstained else trace.candidate, "latency_ms": round(latency, 1),
                **extra,
            })  # fmt: skip
            history += [Turn(role="user", content=q.text), Turn(role="assistant", content=a.answer)]
            done(1)
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


def run(engine: QAEngine, name: str, items: Sequence[Item], *, mode: Mode = "extractive", verify: Verify | None = None,
        sample: Sample | None = None, **params) -> Run:  # fmt: skip
    check_mode(engine, mode)
    with status(LOADING):
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
    return Run(name, outcomes, records, summarize(outcomes), params, sample)


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
    folders = [Path(path).parent / f for f in suite.corpus] or [gold_corpus(settings, path)]
    scan = read_paths(folders, max_bytes=settings.ingest.max_file_bytes)
    articles, name, params, beside = scan.articles, suite.name, {"file": str(path)}, None
    if distractors:
        bench = benchmarks.load(distractors, limit=None)
        articles, name, beside = [*articles, *bench.articles], f"{name}-distractors", bench.file
        params |= {"distractors": len(bench.articles)}
    items = gold_items(suite)
    engine = engine_for(f"eval-{name}", articles, settings, mode=mode, **engine_kwargs)
    if suite.today is not None:
        engine.today = lambda: suite.today
    return run(engine, name, items, mode=mode, verify=verify, sample=gold_sample(path, items, beside), **params)


def gold_corpus(settings: Settings, path: Path) -> Path:
    """The repository's corpus/ for its own suite, from any directory; QA_CORPUS_DIR when set, and for
    another suite the configured corpus (default ./corpus)."""
    if Path(path).resolve() == gold.GOLD_FILE and "corpus_dir" not in settings.model_fields_set:
        return gold.CORPUS_DIR
    return Path(settings.corpus_dir)


def gold_sample(path: Path, items: Sequence[Item], distractors: Path | None = None) -> Sample:
    turns = [q for item in items for q in item.turns]
    n = sum(bool(q.answers) for q in turns)
    return Sample("gold", Path(path), n, len(turns) - n, (n, len(turns) - n), None, distractors)


def run_benchmark(
    name_or_path: str, *, limit: int | None, seed: int = 0, unanswerable: int = 0,
    settings: Settings | None = None, mode: Mode = "extractive", verify: Verify | None = None, **engine_kwargs,
) -> Run:  # fmt: skip
    bench = benchmarks.load(name_or_path, limit=limit, seed=seed, unanswerable=unanswerable)
    why = f" (all of {bench.name}'s articles, whatever --limit: each question is asked among them all)" if limit else ""
    engine = engine_for(f"bench-{bench.name}", bench.articles, settings, mode=mode, why=why, **engine_kwargs)
    return run(engine, bench.name, benchmark_items(bench), mode=mode, verify=verify, sample=benchmark_sample(bench, seed),
               limit=limit, seed=seed, unanswerable=unanswerable)  # fmt: skip


def benchmark_sample(bench: benchmarks.Benchmark, seed: int) -> Sample:
    n = sum(c.answerable for c in bench.cases)
    return _sample("benchmark", bench.file, bench.available, n, len(bench.cases) - n, seed)


# -- thresholds ------------------------------------------------------------------------------------
SAMPLE_KEYS = ("file", "limit", "unanswerable", "seed", "distractors")


def load_thresholds(path: Path | None = None) -> dict[str, dict[str, dict]]:
    """The bounds per run; sample files (a benchmark name, or a path relative to the thresholds file)
    come back resolved. A file that cannot be read or names no metric is one BadThresholds line."""
    path = Path(path or THRESHOLDS_FILE)
    try:
        thresholds = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise BadThresholds(f"cannot read thresholds file {path}: {getattr(err, 'strerror', None) or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise BadThresholds(f"thresholds file {path} is not valid TOML: {err}") from None
    for name, table in thresholds.items():
        check_table(name, table)
        for key in ("file", "distractors"):
            if key in table.get("sample", {}):
                table["sample"][key] = str(_sample_file(table["sample"][key], path.parent))
    return thresholds


def _sample_file(name_or_path: str, base: Path) -> Path:
    if name_or_path in benchmarks.FILES:
        return benchmarks.resolve(name_or_path)[1]
    return (base / name_or_path).resolve()


def check_table(name: str, table: dict) -> None:
    """Before anything runs: every bound names a metric, every sample key is known."""
    metrics = summarize([]).values()
    if not isinstance(table, dict):
        raise BadThresholds(f"thresholds: {name} must be a table ([{name}.min], [{name}.max], [{name}.sample])")
    for kind, bounds in table.items():
        if kind == "sample":
            _check_sample(name, bounds)
        elif kind not in ("min", "max"):
            raise BadThresholds(f"thresholds: {name}.{kind} is not min, max or sample")
        else:
            for metric, _ in _flat(bounds):
                if metric not in metrics:
                    raise BadThresholds(f"thresholds: {name}.{kind}.{metric} is not a metric")


def _check_sample(name: str, spec: dict) -> None:
    if unknown := sorted(set(spec) - set(SAMPLE_KEYS)):
        raise BadThresholds(f"thresholds: {name}.sample.{unknown[0]} is not a sample key ({', '.join(SAMPLE_KEYS)})")
    for key, least in (("limit", 1), ("unanswerable", 0), ("seed", 0)):
        value = spec.get(key, least)
        whole = isinstance(value, int) and not isinstance(value, bool) and value >= least
        if not whole and not (value == "all" and key != "seed"):
            allowed = f"a whole number from {least}" + ("" if key == "seed" else ' or "all"')
            raise BadThresholds(f"thresholds: {name}.sample.{key} must be {allowed}, not {value!r}")


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
    check_table(run.name, limits)
    values = run.metrics.values()
    out = []
    for kind, bounds in limits.items():
        if kind == "sample":
            continue
        for metric, bound in _flat(bounds):
            value = values[metric]
            bad = value < bound if kind == "min" else value > bound
            if bad or value != value:  # nan: the metric could not be measured
                out.append(f"{metric} = {value:.3f}, {'below the floor' if kind == 'min' else 'above the ceiling'} {bound}")
    return out


def expected_sample(spec: dict, ran: Sample) -> Sample:
    """The sample a `[<run>.sample]` table names, counted against the file the run read. Omitted: every
    question (gold) or every answerable one and no unanswerable (benchmarks), seed 0."""
    everything = "all" if ran.kind == "gold" else 0
    all_a, all_u = ran.available
    limit, unanswerable = spec.get("limit", "all"), spec.get("unanswerable", everything)
    a = all_a if limit == "all" else min(limit, all_a)
    u = all_u if unanswerable == "all" else min(unanswerable, all_u)
    file = Path(spec["file"]) if "file" in spec else ran.file
    distractors = Path(spec["distractors"]) if "distractors" in spec else None
    return _sample(ran.kind, file, ran.available, a, u, int(spec.get("seed", 0)), distractors)


def not_applied(run: Run, thresholds: dict) -> str | None:
    """Why this run's floors do not apply (it asked another sample than they were set for), or None.
    A run without a `sample` table, or built by hand without a sample, is always gated."""
    spec = thresholds.get(run.name, {}).get("sample")
    if spec is None or run.sample is None:
        return None
    want, got = expected_sample(spec, run.sample), run.sample
    if want.key() == got.key():
        return None
    files = want.files() != got.files()  # another file: its counts say nothing about the floors' sample
    return f"they are set for {want.describe(with_file=files)}; this run used {got.describe(with_file=files)}"


@dataclass(frozen=True)
class Gate:
    """What the thresholds say about a run: the bounds it crossed, or why none were applied."""

    failed: list[str]
    skipped: str | None = None


def gate(run: Run, thresholds: dict) -> Gate:
    if reason := not_applied(run, thresholds):
        return Gate([], reason)
    return Gate(failures(run, thresholds))
