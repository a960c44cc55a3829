"""How exact Chroma's approximate search is: every sentence searched by its own vector, and the answers
of two clean rebuilds of one corpus compared.

    python -m evals.hnsw [--benchmark squad2 --benchmark rgb] [--limit 1000]

Builds the benchmarks' articles (together, one corpus) twice from scratch in a temporary directory with
the configured HNSW parameters (QA_CHROMA_HNSW_SEARCH_EF, QA_CHROMA_HNSW_CONSTRUCTION_EF) and once with
Chroma's defaults (and its older search default, ef_search 10), then counts the sentences the search does not return first for their own vector, and
the questions of the first benchmark whose answers differ between the two configured builds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from evals import benchmarks
from qa.config import Settings
from qa.engine import QAEngine

CHROMA_DEFAULTS = {"hnsw_search_ef": 100, "hnsw_construction_ef": 100}  # chromadb 1.5's; older ones searched with 10
LEGACY_SEARCH_EF = 10


def build(articles, data_dir: Path, settings: Settings, **chroma) -> tuple[QAEngine, float]:
    updated = settings.chroma.model_copy(update=chroma)
    engine = QAEngine(settings.model_copy(update={"data_dir": data_dir, "chroma": updated}))
    started = time.perf_counter()
    engine.library.add(articles)
    return engine, time.perf_counter() - started


def self_misses(engine: QAEngine, batch: int = 256) -> tuple[int, int]:
    """Sentences whose own vector does not find them first (the same sentence in another article found
    instead, at distance 0 give or take float rounding, counts as found)."""
    col = engine.library.store.sentences
    got = col.get(include=["embeddings"])
    ids, vecs = got["ids"], np.asarray(got["embeddings"], dtype=np.float32)
    misses = 0
    for i in range(0, len(ids), batch):
        res = col.query(query_embeddings=vecs[i : i + batch], n_results=1, include=["distances"])
        for own, found, dist in zip(ids[i : i + batch], res["ids"], res["distances"]):
            misses += int(not found or (found[0] != own and dist[0] > 1e-5))
    return misses, len(ids)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", action="append", help="repeat to index several together (default: squad2 and rgb)")
    ap.add_argument("--limit", type=int, default=1000, help="questions asked of both builds")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args(argv)

    settings = Settings()
    names = args.benchmark or ["squad2", "rgb"]
    loaded = [benchmarks.load(n, limit=args.limit, seed=0) for n in names]
    articles = list({a.id: a for b in loaded for a in b.articles}.values())
    cases = loaded[0].cases
    with tempfile.TemporaryDirectory() as tmp:
        first, t1 = build(articles, Path(tmp) / "a", settings)
        second, t2 = build(articles, Path(tmp) / "b", settings)
        default, t3 = build(articles, Path(tmp) / "c", settings, **CHROMA_DEFAULTS)
        missed = {"build 1": self_misses(first), "build 2": self_misses(second), "chroma defaults": self_misses(default)}
        differ = [c.question for c in cases if first.ask(c.question).answer != second.ask(c.question).answer]
        differ_default = sum(first.ask(c.question).answer != default.ask(c.question).answer for c in cases)
        default.library.store.sentences.modify(configuration={"hnsw": {"ef_search": LEGACY_SEARCH_EF}})
        missed[f"chroma defaults, ef_search {LEGACY_SEARCH_EF}"] = self_misses(default)
    report = {
        "benchmarks": names, "articles": len(articles), "questions": len(cases),
        "hnsw": {"ef_search": settings.chroma.hnsw_search_ef, "ef_construction": settings.chroma.hnsw_construction_ef},
        "chroma_defaults": {"ef_search": CHROMA_DEFAULTS["hnsw_search_ef"], "ef_construction": CHROMA_DEFAULTS["hnsw_construction_ef"]},
        "build_seconds": [round(t1, 1), round(t2, 1), round(t3, 1)],
        "not_found_by_own_vector": {k: f"{m}/{n}" for k, (m, n) in missed.items()},
        "answers_differing_between_builds": len(differ), "examples": differ[:5],
        "answers_differing_from_chroma_defaults": differ_default,
    }  # fmt: skip
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
