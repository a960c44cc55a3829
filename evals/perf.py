"""Speed against the plain LlamaIndex a user would start with, measured in one run on the same paragraphs
and the same bundled model, reported as ratios (ours / plain; below 1 is faster).

    python -m evals.perf [--paragraphs 300] [--questions 100] [--json FILE]      # also `make bench`

Rows: ingest in a cold process (model load included; plain: `VectorStoreIndex.from_documents` into
Chroma with LlamaIndex's HuggingFaceEmbedding); one extractive answer in-process, with the default
ranker and with the trained answer model (plain: a bare dense `retrieve`, top 5, with our embedder,
so the ratio is what our pipeline adds); commands that need no model (`qa --help`, `qa docs list`,
`qa ingest` with nothing new; their own goal is under 1 s); `qa ask` cold, to the printed answer
(goal 3 s); 32 HTTP clients against a `qa serve` process, against the same questions answered one
after another in-process (goal 0.8x, 0 errors). The growth with corpus size is `python -m evals.scale`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evals import benchmarks
from evals.live import QA, qa_serve, timed
from evals.metrics import percentile


PLAIN_INGEST = textwrap.dedent(
    """
    import json, sys
    import chromadb
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from qa.backends import model_path

    docs = [Document(text=d["text"], metadata={"title": d["title"]}) for d in json.load(open(sys.argv[1]))]
    embed = HuggingFaceEmbedding(model_name=model_path("bundled"), device="cpu")
    store = ChromaVectorStore(chroma_collection=chromadb.PersistentClient(sys.argv[2]).get_or_create_collection("plain"))
    VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed)
    """
)


def median_of(runs: int, fn) -> float:
    return statistics.median(fn() for _ in range(runs))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paragraphs", type=int, default=300)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3, help="runs of each cold-process row (the median is reported)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    bench = benchmarks.load("squad2", limit=None, seed=0)
    articles = bench.articles[: args.paragraphs]
    ids = {a.id for a in articles}
    questions = [c.question for c in bench.cases if c.doc_ids & ids][: args.questions]
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        corpus.mkdir()
        for a in articles:  # as files, the way a user ingests
            (corpus / f"{a.id}.txt").write_text(f"---\ntitle: {json.dumps(a.title)}\n---\n{a.text}\n", encoding="utf-8")
        (root / "plain.json").write_text(json.dumps([{"title": a.title, "text": a.text} for a in articles]), encoding="utf-8")
        env = os.environ | {"QA_DATA_DIR": str(root / "qa")}

        def ours_ingest() -> float:
            subprocess.run(["rm", "-rf", str(root / "qa")], check=True)
            return timed([*QA, "ingest", str(corpus)], env)

        def plain_ingest() -> float:
            subprocess.run(["rm", "-rf", str(root / "plain")], check=True)
            return timed([sys.executable, "-c", PLAIN_INGEST, str(root / "plain.json"), str(root / "plain")], env)

        ours, plain = median_of(args.runs, ours_ingest), median_of(args.runs, plain_ingest)
        rows["ingest, cold process (s)"] = {"ours": ours, "plain": plain, "ratio": ours / plain}

        for name, cmd in (("qa --help", ["--help"]), ("qa docs list", ["docs", "list"]), ("qa ingest, nothing new", ["ingest", str(corpus)])):
            rows[f"{name} (s)"] = {"ours": median_of(args.runs, lambda c=cmd: timed([*QA, *c], env)), "goal": 1.0}
        rows["qa ask, cold (s)"] = {"ours": median_of(args.runs, lambda: timed([*QA, "ask", questions[0]], env)), "goal": 3.0}

        rows.update(_answers(root, env, questions))
        rows.update(_http(env, questions))
    report = {"paragraphs": len(articles), "questions": len(questions), "rows": {k: {m: round(v, 4) for m, v in r.items()} for k, r in rows.items()}}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def _answers(root: Path, env: dict[str, str], questions: list[str]) -> dict[str, dict[str, float]]:
    """One answer in-process: ours (QAEngine.ask) against a bare dense retrieve over the plain index."""
    import chromadb
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from qa import backends
    from qa.config import AnswerSettings, EmbeddingSettings, Settings
    from qa.engine import QAEngine

    embed = backends.embedding_model(EmbeddingSettings())
    data = Path(env["QA_DATA_DIR"])
    engine = QAEngine(Settings(data_dir=data), embed_model=embed)
    trained = QAEngine(Settings(data_dir=data, answer=AnswerSettings(model="trained")), embed_model=embed)
    engine.warm_up()
    trained.warm_up()
    collection = chromadb.PersistentClient(str(root / "plain")).get_or_create_collection("plain")
    plain = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection), embed_model=embed).as_retriever(similarity_top_k=5)
    ours_ms, model_ms, plain_ms = [], [], []
    for q in questions:  # interleaved, so all three see the same machine load
        for fn, out in ((engine.ask, ours_ms), (trained.ask, model_ms), (plain.retrieve, plain_ms)):
            started = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - started) * 1000)
    rows = {}
    for label, q in (("p50", 50), ("p95", 95)):
        p = percentile(plain_ms, q)
        for name, ms in (("one answer", ours_ms), ("one answer, answer model", model_ms)):
            rows[f"{name}, {label} (ms)"] = {"ours": percentile(ms, q), "plain": p, "ratio": percentile(ms, q) / p}
    return rows


def _http(env: dict[str, str], questions: list[str], clients: int = 32, repeat: int = 3) -> dict[str, dict[str, float]]:
    """Questions per second: 32 clients over HTTP to a `qa serve` process, against the same questions
    answered one after another in this process on the same index."""
    import httpx

    from qa.config import Settings
    from qa.engine import QAEngine

    work = questions * repeat
    engine = QAEngine(Settings(data_dir=Path(env["QA_DATA_DIR"])))
    engine.warm_up()
    started = time.perf_counter()
    for q in work:
        engine.ask(q)
    in_process = len(work) / (time.perf_counter() - started)

    with qa_serve(env) as (url, _, _):
        httpx.post(url + "/api/ask", json={"question": questions[0]}, timeout=60)

        def client(chunk: list[str]) -> int:
            bad = 0
            with httpx.Client(base_url=url, timeout=120) as http:
                for q in chunk:
                    r = http.post("/api/ask", json={"question": q})
                    bad += r.status_code != 200 or not r.json().get("answer")
            return bad

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            errors = sum(pool.map(client, [work[i::clients] for i in range(clients)]))
        over_http = len(work) / (time.perf_counter() - started)
    return {f"{clients} HTTP clients (questions/s)": {"ours": over_http, "in_process": in_process,
                                                      "ratio": over_http / in_process, "errors": errors, "goal": 0.8}}  # fmt: skip


if __name__ == "__main__":
    main()
