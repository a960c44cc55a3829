"""What generative mode costs on top of the LLM itself: prompt building, the HTTP round trip and,
above all, per-sentence verification, against extractive answers measured in the same run.

    .venv/bin/python -m evals.generative_bench [--n 60]

The LLM is the loopback test double (evals/scripted_llm.py), which answers at once by copying a
passage sentence, so the figures are our overhead, not a model's speed. Reports medians: extractive
answers (baseline), generative answers whole and streamed, the streamed answer's first verified
sentence, and verification alone per sentence.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from evals.scripted_llm import LLMServer
from evals.server_bench import QUESTIONS, timed
from qa.answer.verify import split_claims
from qa.config import LLMSettings, Settings
from qa.engine import QAEngine

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="questions per measurement")
    n = ap.parse_args().n
    qs = [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]
    llm = LLMServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), llm=LLMSettings(backend="openai", base_url=f"{llm.url}/v1", model="double"))
            engine = QAEngine(settings)
            engine.library.ingest([ROOT / "corpus"])
            engine.warm_up()
            engine.ask(qs[0], mode="generative")
            extractive = [timed(lambda q=q: engine.ask(q, mode="extractive")) for q in qs]
            whole, verify_ms, sentences = [], [], 0
            for q in qs:
                t = time.perf_counter()
                trace = engine.trace(q, mode="generative")
                whole.append((time.perf_counter() - t) * 1000)
                sentences += len(trace.checks)
            first, streamed = [], []
            for q in qs:
                t = time.perf_counter()
                seen = False
                for event in engine.stream(q, mode="generative"):
                    if type(event).__name__ == "SentenceCheck" and not seen:
                        first.append((time.perf_counter() - t) * 1000)
                        seen = True
                streamed.append((time.perf_counter() - t) * 1000)
            # verification alone: the same answers checked again against their passages
            snap = engine.library.snapshot()
            for q in qs[: min(n, 20)]:
                a = engine.ask(q, mode="generative")
                passages = engine.retriever(snapshot=snap, all_vectors=True).passages(q)
                claims = split_claims(a.answer)
                verify_ms.append(timed(lambda: engine.verifier(snap).check(claims, passages)) / max(1, len(claims)))
    finally:
        llm.stop()
    base = statistics.median(extractive)
    rows = [
        ("extractive answer (baseline)", base),
        ("generative answer, whole", statistics.median(whole)),
        ("generative answer, streamed to the end", statistics.median(streamed)),
        ("streamed: first sentence verified", statistics.median(first) if first else float("nan")),
        ("verification alone, per sentence", statistics.median(verify_ms)),
    ]
    print(f"{n} questions over corpus/, LLM = loopback double; {sentences} generated sentences checked\n")
    print("| measurement | median ms | × baseline |\n| --- | --- | --- |")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / base:.2f} |")


if __name__ == "__main__":
    main()
