"""What the answer model costs per question: the linear ranker alone (the baseline) against the trained
model, on the same collection, in the same run, questions interleaved so both see the same machine.

    python -m evals.answer_bench                       # gold suite and squad2 (evals/data)
    python -m evals.answer_bench --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from evals import benchmarks, gold
from evals.metrics import percentile
from evals.runner import engine_for
from qa.config import AnswerSettings, Settings
from qa.engine import QAEngine
from qa.ingest.readers import read_paths


def _suites(squad_limit: int) -> list[tuple[str, list, list[str]]]:
    settings = Settings()
    corpus = read_paths([settings.corpus_dir], max_bytes=settings.ingest.max_file_bytes).articles
    questions = [t.question for c in gold.load().cases for t in c.turns]
    suites = [("gold", corpus, questions)]
    bench = benchmarks.load("squad2", limit=squad_limit, seed=0)
    suites.append(("squad2", bench.articles, [c.question for c in bench.cases]))
    return suites


def _time(engine: QAEngine, question: str) -> float:
    started = time.perf_counter()
    engine.ask(question, mode="extractive")
    return (time.perf_counter() - started) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--squad-limit", type=int, default=200)
    args = p.parse_args()
    for name, articles, questions in _suites(args.squad_limit):
        engines = {}
        for kind in ("linear", "trained"):
            settings = Settings(answer=AnswerSettings(model=kind))
            engines[kind] = engine_for(f"bench-{name}" if name != "gold" else "eval-gold", articles, settings)
            engines[kind].warm_up()
        p50s: dict[str, list[float]] = {k: [] for k in engines}
        for _ in range(args.rounds):
            ms: dict[str, list[float]] = {k: [] for k in engines}
            for q in questions:
                for kind, engine in engines.items():
                    ms[kind].append(_time(engine, q))
            for kind in engines:
                p50s[kind].append(percentile(ms[kind], 50))
        lin, tr = statistics.median(p50s["linear"]), statistics.median(p50s["trained"])
        print(f"{name}: {len(questions)} questions x {args.rounds} rounds; p50 per question: linear {lin:.1f} ms, "
              f"trained {tr:.1f} ms, ratio {tr / lin:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
