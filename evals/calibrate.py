"""Calibrate the abstention threshold (AnswerSettings.abstain_threshold) on squad2.

    python -m evals.calibrate --limit 600 --unanswerable 300

It asks questions that no seed-0 evaluation sample of up to 1,000 contains, sweeps the threshold,
and prints the highest one that costs at most --max-accuracy-loss of answer accuracy against never
abstaining on support. squad2's unanswerable questions are written to look answerable, so the
support barely separates them: the threshold abstains only where it costs almost no right answers.
"""

from __future__ import annotations

import argparse
import random

from evals import benchmarks
from evals.metrics import sweep
from evals.runner import benchmark_items, engine_for, run
from qa.config import AnswerSettings, Settings


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=600)
    p.add_argument("--unanswerable", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-accuracy-loss", type=float, default=0.005)
    args = p.parse_args()
    held_out = {c.id for c in benchmarks.load("squad2", limit=1000, seed=0, unanswerable=300).cases}
    full = benchmarks.load("squad2", limit=None, unanswerable=10_000)
    rng = random.Random(args.seed)
    answerable = [c for c in full.cases if c.answerable and c.id not in held_out]
    impossible = [c for c in full.cases if not c.answerable and c.id not in held_out]
    cases = rng.sample(answerable, args.limit) + rng.sample(impossible, args.unanswerable)
    settings = Settings(answer=AnswerSettings(abstain_threshold=0.0))
    result = run(engine_for("bench-squad2", full.articles, settings), "squad2-calibration", benchmark_items(
        benchmarks.Benchmark("squad2", full.articles, cases)))  # fmt: skip
    rows = sweep(result.outcomes, [i / 100 for i in range(0, 91)])
    floor = rows[0]["answer_accuracy"] - args.max_accuracy_loss
    print("threshold  false_abstention  abstention_recall  answer_accuracy")
    for row in rows[::5]:
        print(f"{row['threshold']:9.2f}  {row['false_abstention_rate']:16.3f}  {row['abstention_recall']:17.3f}  "
              f"{row['answer_accuracy']:15.3f}")  # fmt: skip
    # the last threshold before the first one that loses more than allowed
    chosen = next((prev["threshold"] for prev, row in zip(rows, rows[1:]) if row["answer_accuracy"] < floor), rows[-1]["threshold"])
    print(f"chosen threshold: {chosen:.2f} (answer accuracy within {args.max_accuracy_loss} of never abstaining)")

if __name__ == "__main__":
    main()
