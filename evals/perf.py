"""Speed against the plain LlamaIndex a user would start with, measured in one run on the same paragraphs
and the same bundled model, reported as ratios (ours / plain; below 1 is faster).

    python -m evals.perf [--paragraphs 300] [--questions 100] [--json FILE]      # also `make bench`

Rows: ingest in a cold process (model load included; plain: `VectorStoreIndex.from_documents` into
Chroma with LlamaIndex's HuggingFaceEmbedding); one extractive answer in-process, with the default
answer model and with the linear ranker (plain: a bare dense `retrieve`, top 5, with our embedder,
so the ratio is what our pipeline adds); commands that need no model (`qa --help`, `qa docs list`,
`qa docs show`, `qa ingest` with nothing new, and refused ones: `qa ask ""`, a wrong `qa eval` argument;
their own goal is under 1 s); `qa ask` cold, to the printed answer
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
    from qa.models.files import model_path

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
    ap.add_argument("--only", choices=["commands", "answers", "memory", "writes", "scope"], help="run one group of rows alone")
    ap.add_argument("--memory-mb", type=float, default=4.9, help="size of each upload of the memory rows")
    ap.add_argument("--memory-kinds", default="sentences,no sentence ends,english",
                    help="memory rows to take: made-up words with sentence ends, without, and real English prose")
    ap.add_argument("--writes-mb", type=float, default=4.9, help="size of each big article of the writes rows")
    args = ap.parse_args(argv)

    # -- writes: a small write and a second server's next question, with two big articles indexed (issue 21) --
    if args.only == "writes":
        print(json.dumps({"rows": _writes(args.paragraphs, args.writes_mb, args.runs)}, indent=1))
        return

    # -- scope: a question within chosen articles against the same question unscoped (issue 23) --
    if args.only == "scope":
        print(json.dumps({"rows": _scope(args.questions)}, indent=1))
        return

    # -- memory: the peak a big upload adds to a `qa serve` process (issue 21) --
    if args.only == "memory":
        print(json.dumps({"rows": _memory(args.memory_mb, tuple(args.memory_kinds.split(",")))}, indent=1))
        return

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

        if args.only in ("commands", "answers"):  # the indexes they read, not timed
            ours_ingest()
            if args.only == "answers":
                plain_ingest()
                report = {"questions": len(questions), "rows": _answers(root, env, questions)}
                print(json.dumps(report, indent=1))
                if args.json:
                    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
                return
        else:
            ours, plain = median_of(args.runs, ours_ingest), median_of(args.runs, plain_ingest)
            rows["ingest, cold process (s)"] = {"ours": ours, "plain": plain, "ratio": ours / plain}

        for name, cmd in (("qa --help", ["--help"]), ("qa docs list", ["docs", "list"]), ("qa ingest, nothing new", ["ingest", str(corpus)]),
                          ("qa docs show", ["docs", "show", articles[0].id])):  # fmt: skip
            rows[f"{name} (s)"] = {"ours": median_of(args.runs, lambda c=cmd: timed([*QA, *c], env)), "goal": 1.0}
        # refusals: every argument and input is checked before a model or the index loads
        for name, cmd in (("qa ask '' (refused)", ["ask", ""]), ("qa eval --benchmark squad3 (refused)", ["eval", "--benchmark", "squad3"]),
                          ("qa eval --limit 0 (refused)", ["eval", "--benchmark", "squad2", "--limit", "0"])):  # fmt: skip
            rows[f"{name} (s)"] = {"ours": median_of(args.runs, lambda c=cmd: timed([*QA, *c], env, refused=True)), "goal": 1.0}
        rows["qa ask, cold (s)"] = {"ours": median_of(args.runs, lambda: timed([*QA, "ask", questions[0]], env)), "goal": 3.0}
        if args.only == "commands":
            print(json.dumps({"rows": rows}, indent=1))
            return

        rows.update(_answers(root, env, questions))
        rows.update(_http(env, questions))
    rows.update(_memory(args.memory_mb, tuple(args.memory_kinds.split(","))))
    rows.update(_writes(args.paragraphs, args.writes_mb, args.runs))
    rows.update(_scope(args.questions))
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
    engine = QAEngine(Settings(data_dir=data), embed_model=embed)  # the default: the answer model
    linear = QAEngine(Settings(data_dir=data, answer=AnswerSettings(model="linear")), embed_model=embed)
    engine.warm_up()
    linear.warm_up()
    collection = chromadb.PersistentClient(str(root / "plain")).get_or_create_collection("plain")
    plain = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection), embed_model=embed).as_retriever(similarity_top_k=5)
    ours_ms, linear_ms, plain_ms = [], [], []
    for q in questions:  # interleaved, so all three see the same machine load
        for fn, out in ((engine.ask, ours_ms), (linear.ask, linear_ms), (plain.retrieve, plain_ms)):
            started = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - started) * 1000)
    rows = {}
    for label, q in (("p50", 50), ("p95", 95)):
        p = percentile(plain_ms, q)
        for name, ms in (("one answer", ours_ms), ("one answer, linear ranker", linear_ms)):
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


def _made_up(n_bytes: int, *, ends: bool, seed: int = 21) -> str:
    """Seeded made-up words (nearly all distinct), a sentence end every 15-25 words unless not `ends`."""
    import random

    rng = random.Random(seed)
    words, size, until_end = ["Made", "up", "words", "\n\n"], 0, rng.randint(15, 25)
    while size < n_bytes:
        word = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10)))
        until_end -= 1
        if ends and until_end == 0:
            word, until_end = word + ".", rng.randint(15, 25)
        elif ends and words[-1].endswith("."):
            word = word.capitalize()
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def _vm(pid: int, field: str) -> float:
    """VmHWM (peak) or VmRSS of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _english(n_bytes: int) -> str:
    """Real English prose, `n_bytes` of it: SQuAD 1.1 train's paragraphs in order (the benchmarks hold
    too little; nothing here is evaluated, only its memory taken)."""
    from evals.scale import TRAIN_FILE

    parts, size = [], 0
    data = json.loads(TRAIN_FILE.read_text(encoding="utf-8"))["data"]
    for paragraph in (p["context"] for article in data for p in article["paragraphs"]):
        parts.append(paragraph)
        size += len(paragraph.encode()) + 2
        if size >= n_bytes:
            break
    return "English prose\n\n" + "\n\n".join(parts)


def _memory(mb: float = 4.9, kinds: tuple[str, ...] = ("sentences", "no sentence ends")) -> dict[str, dict[str, float]]:
    """Peak RSS a `qa serve` process adds to take one upload of `mb` MB (goal: about 100 MB), a fresh server
    each, after a small article and a question (model loaded, one write done); `held`: RSS added after.
    Made-up words are nearly all distinct (the worst case for the vocabularies); `english` is real prose."""
    import httpx

    rows = {}
    for label in kinds:
        ends = label != "no sentence ends"
        made = _english(int(mb * 1_000_000)) if label == "english" else _made_up(int(mb * 1_000_000), ends=ends)
        text = made.encode()
        with tempfile.TemporaryDirectory() as tmp, qa_serve(os.environ | {"QA_DATA_DIR": tmp}) as (url, server, _):
            with httpx.Client(base_url=url, timeout=3600) as http:
                http.post("/api/documents", json={"title": "Warm", "text": "The ferry sailed at dawn on Sunday."}).raise_for_status()
                http.post("/api/ask", json={"question": "When did the ferry sail?"}).raise_for_status()
                peak, rss = _vm(server.pid, "VmHWM"), _vm(server.pid, "VmRSS")
                started = time.perf_counter()
                http.post("/api/documents", files={"file": ("big.txt", text, "text/plain")}).raise_for_status()
                seconds = time.perf_counter() - started
                time.sleep(1)
                rows[f"upload of {mb} MB, {label}: added peak (MB)"] = {
                    "ours": _vm(server.pid, "VmHWM") - peak, "held": _vm(server.pid, "VmRSS") - rss,
                    "before": peak, "seconds": seconds, "goal": 100.0}  # fmt: skip
    return rows


def _scope(questions: int) -> dict[str, dict[str, float]]:
    """p50 of one question unscoped and within filters, on the whole squad2 collection, taken in turn so
    both see the same load: within its own article plus nine others (doc_ids), and within a date range
    (since/until over the articles given seeded dates). Goal: scoped within 1.2x unscoped."""
    import datetime as dt
    import random

    from qa.config import Settings
    from qa.engine import QAEngine
    from qa.schemas import Filters

    bench = benchmarks.load("squad2", limit=None, seed=0)
    rng = random.Random(23)
    day0 = dt.date(2020, 1, 1)
    articles = [a.model_copy(update={"published": (day0 + dt.timedelta(days=rng.randrange(1500))).isoformat()})
                for a in bench.articles]  # fmt: skip
    ids = [a.id for a in articles]
    cases = [c for c in bench.cases if c.doc_ids][:questions]
    times: dict[str, list[float]] = {"unscoped": [], "doc_ids": [], "dates": []}
    with tempfile.TemporaryDirectory() as tmp:
        engine = QAEngine(Settings(data_dir=Path(tmp)))
        engine.library.add(articles)
        engine.warm_up()
        engine.ask(cases[0].question)
        for c in cases:
            own = sorted(c.doc_ids)
            scoped = {"unscoped": None, "doc_ids": Filters(doc_ids=own + rng.sample(ids, 9)),
                      "dates": Filters(since=dt.date(2021, 1, 1), until=dt.date(2022, 12, 31))}  # fmt: skip
            for name, filters in scoped.items():
                started = time.perf_counter()
                engine.ask(c.question, filters=filters)
                times[name].append(time.perf_counter() - started)
    p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {f"question within {what}, p50 (ms)": {"ours": p50[key], "unscoped": p50["unscoped"], "ratio": p50[key] / p50["unscoped"],
                                                  "goal": 1.2, "questions": len(cases)}
            for key, what in (("doc_ids", "10 chosen articles"), ("dates", "a two-year date range"))}  # fmt: skip


def _setup_embedding(real=None, dim: int = 0):
    """For building the writes rows' indexes: `real`'s vectors, each text embedded once for both indexes;
    without it, seeded random unit vectors, for the made-up articles, which the bundled model would take
    hours to embed here (the rows time what later writes and questions pay for them, not their own write)."""
    import zlib

    import numpy as np
    from llama_index.core.base.embeddings.base import BaseEmbedding

    memo: dict[str, list[float]] = {}

    class Setup(BaseEmbedding):
        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            if real is None:
                vectors = (np.random.default_rng(zlib.crc32(t.encode())).standard_normal(dim) for t in texts)
                return [(v / np.linalg.norm(v)).tolist() for v in vectors]
            todo = [t for t in dict.fromkeys(texts) if t not in memo]
            memo.update(zip(todo, real.get_text_embedding_batch(todo) if todo else []))
            return [memo[t] for t in texts]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embeddings([text])[0]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._get_text_embedding(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_text_embedding(query)

    return Setup(model_name="setup")


def _timed(fn, into: list[float]):
    def timed_call(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    return timed_call


def _writes(paragraphs: int, mb: float, runs: int, settle: int = 3) -> dict[str, dict[str, float]]:
    """A small write (one short article, `Library.add`) and a second server's first question after it (a
    second engine on the same data directory), on two squad2 indexes, one with two articles of `mb` MB of
    made-up words added; taken in turn, so both see the same machine load. The ratio is what the big
    articles cost every later write (goal 1.0x). `refresh`: the part of a write spent bringing the snapshot
    up to date (the rest is Chroma's). The second server reopens its embedded Chroma client at each write,
    and a fresh client's first call loads the collection: `reopen` times that alone. The first
    `settle` rounds are not timed: until Chroma has applied the big write's log, a fresh client reads it
    too (some 2.5 s); their slowest question is `settling`."""
    from qa import backends
    from qa.config import EmbeddingSettings, Settings
    from qa.engine import QAEngine
    from qa.library import Library

    bench = benchmarks.load("squad2", limit=None, seed=0)
    articles = bench.articles[:paragraphs]
    question = next(c.question for c in bench.cases if c.doc_ids & {a.id for a in articles})
    embed = backends.embedding_model(EmbeddingSettings())
    setup = _setup_embedding(embed)
    times: dict[str, tuple[list[float], list[float]]] = {"without": ([], []), "with": ([], [])}
    reopen: dict[str, float] = {}
    refreshes: dict[str, list[float]] = {"without": [], "with": []}  # each call's seconds
    refresh: dict[str, list[float]] = {"without": [], "with": []}  # their sum in each write
    with tempfile.TemporaryDirectory() as tmp:
        sides = {}
        for phase in times:
            settings = Settings(data_dir=Path(tmp) / phase)
            Library(settings, embed_model=setup).add(articles)
            if phase == "with":
                seeded = Library(settings, embed_model=_setup_embedding(dim=len(embed.get_text_embedding("x"))))
                seeded.add([seeded.new_article(title=f"Made up {i}", text=_made_up(int(mb * 1e6), ends=True, seed=i))
                            for i in (1, 2)])  # fmt: skip
            writer, reader = Library(settings, embed_model=embed), QAEngine(settings, embed_model=embed)
            writer.index.refresh = _timed(writer.index.refresh, refreshes[phase])
            reader.library.index.check_every_s = 0  # looks for writes at every question, as after a second's pause
            writer.snapshot(), reader.warm_up()  # each takes the articles in once: not timed
            sides[phase] = writer, reader
        for i in range(settle + runs):
            for phase, (writer, reader) in sides.items():
                text = f"Ferry {i} left Dunmore at {i + 5} am on Sunday ({phase} big ones). It carried {40 + i} people."
                started, calls = time.perf_counter(), len(refreshes[phase])
                writer.add([writer.new_article(title=f"Ferry {i}", text=text)])
                times[phase][0].append(time.perf_counter() - started)
                refresh[phase].append(sum(refreshes[phase][calls:]))
                started = time.perf_counter()
                reader.ask(question)
                times[phase][1].append(time.perf_counter() - started)
        for phase, (writer, _) in sides.items():
            fresh = backends.chroma_client(writer.settings.chroma, data_dir=writer.settings.data_dir)
            started = time.perf_counter()
            fresh.get_collection(f"{writer.settings.chroma.collection}-sentences").count()
            reopen[phase] = time.perf_counter() - started
    (w0, a0), (w1, a1) = ((statistics.median(w[settle:]), statistics.median(a[settle:])) for w, a in times.values())
    name = f"with two {mb} MB articles of made-up words indexed"
    return {
        f"small write, {name} (s)": {"ours": w1, "without": w0, "ratio": w1 / w0, "goal": 1.0,
                                     "refresh": statistics.median(refresh["with"][settle:]),
                                     "refresh_without": statistics.median(refresh["without"][settle:])},
        f"second server's next question, {name} (s)": {"ours": a1, "without": a0, "ratio": a1 / a0, "goal": 1.0,
                                                         "settling": max(times["with"][1][:settle], default=0.0),
                                                         "reopen": reopen["with"], "reopen_without": reopen["without"]},
    }

if __name__ == "__main__":
    main()
