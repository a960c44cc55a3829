"""An ingest killed part-way (kill -9) leaves a consistent index, and the next run completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from qa.config import Settings
from qa.engine import QAEngine

N = 160  # about 1,900 sentences: four embedding groups, so the kill lands with groups still to write
TOPICS = ["harbour", "railway", "orchard", "glacier", "stadium", "library", "vineyard", "reactor"]


def _corpus(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        sentences = " ".join(f"Report {i} line {k}: the {topic} committee counted {i * 7 + k} visitors." for k in range(12))
        (folder / f"a{i:04d}.txt").write_text(f"The {topic} story number {i}\n\n{sentences}\n", encoding="utf-8")


def test_kill_during_ingest_leaves_no_half_article(tmp_path: Path, embed_model) -> None:
    corpus = tmp_path / "many"
    _corpus(corpus, N)
    env = os.environ | {"QA_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("qa")), "ingest", str(corpus)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    settings = Settings(data_dir=tmp_path / "data")
    sentences_dir = tmp_path / "data" / "chroma"
    deadline = time.monotonic() + 120
    # kill once writing has begun (the sqlite file grows past its empty size)
    while time.monotonic() < deadline and proc.poll() is None:
        db = sentences_dir / "chroma.sqlite3"
        if db.exists() and db.stat().st_size > 2_000_000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    engine = QAEngine(settings, embed_model=embed_model)
    stored = engine.library.store.load()
    committed = {s.hash: len(s.layout.sentences) for s in stored}
    assert len(stored) < N, "the kill came too late to test anything"
    counts: dict[str, int] = {}
    for meta in engine.library.store.sentences.get(include=["metadatas"])["metadatas"]:
        counts[meta["hash"]] = counts.get(meta["hash"], 0) + 1
    for h, n in committed.items():  # every committed article is whole
        assert counts.get(h) == n

    report = engine.library.ingest([corpus])
    assert len(report.added) == N - len(stored) and not report.updated
    assert len(engine.library.documents()) == N
    final = {m["hash"] for m in engine.library.store.sentences.get(include=["metadatas"])["metadatas"]}
    assert final == {s.hash for s in engine.library.store.load()}  # leftovers of the killed run were swept
    assert engine.library.store.articles.get(where={"kind": "pending"})["ids"] == []
