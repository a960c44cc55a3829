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


KILL_AT_COMMIT = """
import os, signal, sys
from chromadb.api.models.Collection import Collection

upsert = Collection.upsert

def upsert_then_die(self, *args, **kwargs):
    if any(m.get("kind") == "article" for m in kwargs.get("metadatas") or []):
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 at the commit: markers and sentences written, no record
    return upsert(self, *args, **kwargs)

Collection.upsert = upsert_then_die
from qa.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_killed_before_its_commit_changes_no_answer(tmp_path: Path, embed_model) -> None:
    """The sentences of a write killed before its record was written are invisible to readers from the
    first question on (they used to take places among the search's candidates until the next write)."""
    from qa.index.store import parse_sentence_id
    from tests.support.helpers import CORPUS, write

    settings = Settings(data_dir=tmp_path / "data")
    engine = QAEngine(settings, embed_model=embed_model)
    engine.library.ingest([CORPUS])
    questions = ["Who leads ISIS-K?", "When was ISIS-K formed?", "What is the relationship between ISIS-K and the Taliban?"]
    before = [engine.ask(q) for q in questions]
    news = tmp_path / "news"
    for i in range(6):  # near the questions, so that their sentences would be among the candidates
        write(news / f"rival-{i}.txt", f"Rival group {i}\n\n" + " ".join(
            f"The rival militant group number {i} is led by commander {k} and fought the Taliban in Afghanistan in {2000 + k}."
            for k in range(30)))  # fmt: skip
    env = os.environ | {"QA_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run([sys.executable, "-c", KILL_AT_COMMIT, "ingest", str(news)], env=env, timeout=300)
    assert done.returncode == -signal.SIGKILL
    raw = QAEngine(settings, embed_model=embed_model).library.store  # no question asked yet
    assert raw.articles.get(where={"kind": "pending"})["ids"], "the kill did not land inside the write"

    fresh = QAEngine(settings, embed_model=embed_model)
    after = [fresh.ask(q) for q in questions]
    committed = {s.hash for s in fresh.library.store.load()}
    stored = {parse_sentence_id(i)[0] for i in fresh.library.store.sentences.get(include=[])["ids"]}
    assert stored == committed and fresh.library.store.articles.get(where={"kind": "pending"})["ids"] == []
    bodies = {i.split(":")[1] for i in fresh.library.store.texts.get()["ids"]}
    assert bodies == committed  # the bodies written before the kill went with its sentences
    for was, now in zip(before, after):
        assert (now.answer, [(c.doc_id, c.start, c.end) for c in now.citations]) == \
            (was.answer, [(c.doc_id, c.start, c.end) for c in was.citations])  # fmt: skip


def test_a_server_that_wrote_last_still_sweeps_after_another_process_died_writing(tmp_path: Path, embed_model) -> None:
    """A write skips the sweep's counting when the previous write was its own and ended cleanly; a process
    that took the lock since (here, to die in its write) makes the next write sweep in full."""
    from tests.support.helpers import CORPUS, write

    settings = Settings(data_dir=tmp_path / "data")
    engine = QAEngine(settings, embed_model=embed_model)
    engine.library.ingest([CORPUS])
    write(tmp_path / "one" / "first.txt", "The first harbour story\n\nThe harbour opened a new pier in May.")
    engine.library.ingest([tmp_path / "one"])  # follows our own clean write: nothing to sweep
    store = engine.library.store
    assert store._token is not None and (settings.data_dir / "chroma").exists()
    write(tmp_path / "dies" / "rival.txt", "Rival story\n\n" + " ".join(f"Commander {k} led the rival group." for k in range(20)))
    env = os.environ | {"QA_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run([sys.executable, "-c", KILL_AT_COMMIT, "ingest", str(tmp_path / "dies")], env=env, timeout=300)
    assert done.returncode == -signal.SIGKILL
    assert store.articles.get(where={"kind": "pending"})["ids"], "the kill did not land inside the write"

    write(tmp_path / "two" / "second.txt", "The second harbour story\n\nThe harbour closed its old pier in June.")
    report = engine.library.ingest([tmp_path / "two"])  # the same engine: no question asked in between
    assert report.added == ["second"]
    committed = {s.hash for s in store.load()}
    stored = {m["hash"] for m in store.sentences.get(include=["metadatas"])["metadatas"]}
    assert stored == committed and store.articles.get(where={"kind": "pending"})["ids"] == []
