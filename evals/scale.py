"""How cost grows with the corpus: ingest time, re-ingest of the unchanged corpus, answer p50/p95 and
server RSS at about 1,000, 10,000 and 100,000 sentences.

    python -m evals.scale [--sizes 1000 10000 100000] [--questions 200] [--json FILE]

The articles are the paragraphs of ../shared/training/squad-v1.1-train.json (all 18,896 of them give
about 100,000 sentences), taken in file order until a size is reached, written as jsonl files and
ingested by `qa ingest` in a cold process, the way a user would. A `qa serve` process then answers
questions sampled (seed 0) from those paragraphs, one client at a time over HTTP; p50/p95 are the
server's own `timings_ms.total`, and RSS is the server's peak (VmHWM) read from /proc. This measures
speed only: no quality figure comes from the training data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from evals.live import QA, qa_serve, timed
from evals.metrics import percentile

TRAIN_FILE = Path(__file__).resolve().parents[2] / "shared" / "training" / "squad-v1.1-train.json"
PER_FILE = 2000  # paragraphs per jsonl file: about 1.6 MB


def paragraphs(path: Path) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = []
    for doc in data:
        for i, p in enumerate(doc["paragraphs"]):
            out.append({"id": f"{doc['title']}-{i}", "title": doc["title"].replace("_", " "), "text": p["context"],
                        "questions": [q["question"] for q in p["qas"]]})  # fmt: skip
    return out


def take(paras: list[dict], sentences: int) -> tuple[list[dict], int]:
    """The first paragraphs holding about `sentences` sentences, as our ingest splits them."""
    from qa.text import layout

    taken, count = [], 0
    for p in paras:
        if count >= sentences:
            break
        taken.append(p)
        count += len(layout(p["text"], chunk_chars=1000).sentences)
    return taken, count


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def answers(env: dict[str, str], questions: list[str]) -> dict[str, float]:
    import httpx

    with qa_serve(env) as (url, server, ready_s), httpx.Client(base_url=url, timeout=120) as http:
        http.post("/api/ask", json={"question": questions[0]}).raise_for_status()  # first question loads what is lazy
        server_ms, client_ms = [], []
        for q in questions:
            t = time.perf_counter()
            r = http.post("/api/ask", json={"question": q})
            client_ms.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
            server_ms.append(r.json()["timings_ms"]["total"])
        return {
            "server_ready_s": round(ready_s, 2),
            "answer_p50_ms": round(percentile(server_ms, 50), 1), "answer_p95_ms": round(percentile(server_ms, 95), 1),
            "http_p50_ms": round(percentile(client_ms, 50), 1), "http_p95_ms": round(percentile(client_ms, 95), 1),
            "server_peak_rss_mb": round(peak_rss_mb(server.pid), 1),
        }  # fmt: skip


def measure(paras: list[dict], target: int, n_questions: int, root: Path) -> dict:
    taken, sentences = take(paras, target)
    corpus = root / f"scale-{target}"
    corpus.mkdir(exist_ok=True)
    for start in range(0, len(taken), PER_FILE):  # files stay under the 5 MB a file may have
        with (corpus / f"part-{start // PER_FILE:03d}.jsonl").open("w", encoding="utf-8") as f:
            for p in taken[start : start + PER_FILE]:
                f.write(json.dumps({"id": p["id"], "title": p["title"], "text": p["text"]}) + "\n")
    env = os.environ | {"QA_DATA_DIR": str(root / f"qa-{target}")}
    ingest_s = timed([*QA, "ingest", str(corpus)], env)
    reingest_s = sorted(timed([*QA, "ingest", str(corpus)], env) for _ in range(3))[1]
    pool = [q for p in taken for q in p["questions"]]
    questions = random.Random(0).sample(pool, min(n_questions, len(pool)))
    row = {"target": target, "articles": len(taken), "sentences": sentences, "ingest_s": round(ingest_s, 1),
           "sentences_per_s": round(sentences / ingest_s, 1), "reingest_unchanged_s": round(reingest_s, 2)}  # fmt: skip
    row |= answers(env, questions)
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--train", type=Path, default=TRAIN_FILE)
    ap.add_argument("--workdir", type=Path, help="keep the indexes here (default: a temporary directory)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not args.train.is_file():
        sys.exit(f"evals.scale: {args.train} not found (the SQuAD 1.1 train file; see --train)")
    paras = paragraphs(args.train)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        rows = [measure(paras, size, args.questions, root) for size in args.sizes]
    if args.json and args.json.exists():  # keep the rows of sizes this run did not measure
        kept = [r for r in json.loads(args.json.read_text())["rows"] if r["target"] not in args.sizes]
        rows = sorted(kept + rows, key=lambda r: r["target"])
    report = {"cpu_count": os.cpu_count(), "rows": rows}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
