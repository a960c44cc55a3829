"""Compare retrievers on a benchmark: dense alone, BM25 alone and the fused hybrid, one run.

    python -m evals.retrieval --benchmark squad2 --limit 600

Each benchmark gets its own collection under QA_DATA_DIR, ingested once (re-runs embed nothing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from evals.benchmarks import Benchmark, load
from evals.runner import engine_for
from qa.engine import QAEngine


def ranked_docs(engine: QAEngine, question: str, *, dense_weight: float, k: int = 5) -> list[str]:
    retriever = engine.retriever(top_k=k * 3)
    retriever.dense_weight = dense_weight
    docs: list[str] = []
    for passage in retriever.passages(question):
        doc = passage.stored.id
        if doc not in docs:
            docs.append(doc)
    return docs[:k]


def recall(engine: QAEngine, bench: Benchmark, *, dense_weight: float) -> dict[str, float]:
    r1 = r5 = 0
    rr = []
    times = []
    cases = [c for c in bench.cases if c.answerable]
    for case in cases:
        t = time.perf_counter()
        docs = ranked_docs(engine, case.question, dense_weight=dense_weight)
        times.append((time.perf_counter() - t) * 1000)
        ranks = [i for i, d in enumerate(docs) if d in case.doc_ids]
        r1 += bool(ranks and ranks[0] == 0)
        r5 += bool(ranks)
        rr.append(1 / (ranks[0] + 1) if ranks else 0.0)
    n = len(cases)
    return {"recall_at_1": r1 / n, "recall_at_5": r5 / n, "mrr": statistics.mean(rr), "p50_ms": statistics.median(times)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--benchmark", default="squad2")
    p.add_argument("--limit", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default="0,1,0.5", help="dense weights to compare (0 = BM25 alone, 1 = dense alone)")
    args = p.parse_args()
    bench = load(args.benchmark, limit=args.limit, seed=args.seed)
    engine = engine_for(f"bench-{bench.name}", bench.articles)
    rows = {}
    for w in [float(x) for x in args.weights.split(",")]:
        rows[w] = recall(engine, bench, dense_weight=w)
        print(f"dense_weight={w:.2f}", json.dumps({k: round(v, 3) for k, v in rows[w].items()}), flush=True)


if __name__ == "__main__":
    main()
