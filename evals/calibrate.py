"""Calibrate the abstention threshold on data: squad2 answerable vs unanswerable questions.

    python -m evals.calibrate --limit 400 --unanswerable 400

Prints, for each threshold, the false-abstention rate on answerable questions and the abstention
recall on unanswerable ones, then the highest threshold whose false-abstention rate stays within
--max-false-abstention. That value is AnswerSettings.abstain_threshold's default.
"""

from __future__ import annotations

import argparse

from evals.benchmarks import load
from evals.retrieval import bench_engine
from qa.answer import Passage


def supports(engine, bench) -> list[tuple[float, bool, bool]]:
    """(best support, answerable, refused by answer type) per case."""
    snap = engine.index.snapshot()
    out = []
    for case in bench.cases:
        passages = [Passage.from_node(h, snap) for h in engine.retriever().retrieve(case.question)]
        picks = engine.answerer.score(case.question, passages, idf=snap.idf)
        best = picks[0] if picks else None
        typed_refusal = best is not None and best.features["typed"] == 0.0
        out.append((best.support if best else 0.0, case.answerable, typed_refusal))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=400)
    p.add_argument("--unanswerable", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)  # not the evaluation seed: calibrate and test apart
    p.add_argument("--max-false-abstention", type=float, default=0.08)
    args = p.parse_args()
    bench = load("squad2", limit=args.limit, seed=args.seed, unanswerable=args.unanswerable)
    rows = supports(bench_engine(bench), bench)
    pos = [r for r in rows if r[1]]
    neg = [r for r in rows if not r[1]]
    chosen = 0.0
    print("threshold  false_abstention  abstention_recall")
    for i in range(0, 81):
        t = i / 100
        fa = sum(s < t or typed for s, _, typed in pos) / len(pos)
        rec = sum(s < t or typed for s, _, typed in neg) / len(neg)
        if i % 5 == 0:
            print(f"{t:9.2f}  {fa:16.3f}  {rec:17.3f}")
        if fa <= args.max_false_abstention:
            chosen = t
    print(f"chosen threshold: {chosen:.2f} (false abstention <= {args.max_false_abstention})")


if __name__ == "__main__":
    main()
