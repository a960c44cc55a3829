"""HTTP overhead and concurrency of the server, against the engine called directly in the same run.

    .venv/bin/python -m evals.server_bench [--n 60]

Indexes corpus/ into a temporary directory, serves it with uvicorn on loopback and reports medians:
the engine alone (baseline), POST /api/ask, the stream's first delta and its end, and throughput
with 1 and 4 concurrent clients.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from evals.live import serving
from evals.metrics import percentile
from qa.config import Settings
from qa.engine import QAEngine
from server import create_app

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["who leads ISIS-K?", "What does the K stand for?", "How many fighters does ISIS-K have?",
             "Who is Jake Sullivan?", "What did the Taliban say?", "When was ISIS-K founded?"]  # fmt: skip


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="questions per measurement")
    n = ap.parse_args().n
    qs = [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        engine = QAEngine(Settings(data_dir=Path(tmp)))
        engine.library.ingest([ROOT / "corpus"])
        engine.warm_up()
        direct = [timed(lambda q=q: engine.ask(q)) for q in qs]
        with serving(create_app(engine=engine)) as url, httpx.Client(base_url=url, timeout=60) as http:
            http.post("/api/ask", json={"question": qs[0]})
            ask = [timed(lambda q=q: http.post("/api/ask", json={"question": q}).raise_for_status()) for q in qs]
            first, whole = [], []
            for q in qs:
                t = time.perf_counter()
                with http.stream("POST", "/api/chat/stream", json={"question": q}) as r:
                    got_first = False
                    for line in r.iter_lines():
                        if line == "event: delta" and not got_first:
                            first.append((time.perf_counter() - t) * 1000)
                            got_first = True
                whole.append((time.perf_counter() - t) * 1000)
            rates = {}
            for clients in (1, 4):
                t = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    list(pool.map(lambda q: http.post("/api/ask", json={"question": q}).raise_for_status(), qs))
                rates[clients] = n / (time.perf_counter() - t)
    base = statistics.median(direct)
    print(f"{n} questions each; medians (p95) in ms")
    for name, xs in (("engine.ask (baseline)", direct), ("POST /api/ask", ask), ("stream: first delta", first), ("stream: done", whole)):
        med = statistics.median(xs)
        print(f"  {name:24s} {med:7.1f} ({percentile(xs, 95):6.1f})  x{med / base:.2f} of baseline")
    print(f"  throughput: {rates[1]:.1f} q/s with 1 client, {rates[4]:.1f} q/s with 4 (x{rates[4] / rates[1]:.2f})")


if __name__ == "__main__":
    main()
