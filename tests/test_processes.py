"""Several processes on one index: a server sees what the CLI or another server wrote within 2 s, a
stale snapshot is never an error, and Chroma going away is a 503 that heals on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from evals.live import serving
from qa.config import ChromaSettings, Settings
from qa.engine import QAEngine
from qa.library import Library
from server import create_app
from tests.support.helpers import CORPUS, chroma_run, write

FLOODS = """---
title: Floods hit the Meltwick valley
---
Heavy rain made the river Meltwick burst its banks on Tuesday night.
The mayor of Dunmore, Alice Grant, declared an emergency on Wednesday.
"""
MAYOR = "Who is the mayor of Dunmore?"
LEADER = "who leads ISIS-K?"
QA = [sys.executable, "-m", "qa.cli"]


def ask(url: str, question: str) -> httpx.Response:
    return httpx.post(f"{url}/api/ask", json={"question": question}, timeout=30)


class Watch:
    """Asks the flagship question over and over from another thread; every reply is kept."""

    def __init__(self, url: str) -> None:
        self.url, self.statuses, self.wrong, self._stop = url, [], [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            r = ask(self.url, LEADER)
            self.statuses.append(r.status_code)
            if r.status_code == 200 and "Shahab al-Muhajir" not in r.json()["answer"]:
                self.wrong.append(r.json()["answer"])

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def until(check, *, within_s: float) -> float:
    """Seconds until `check()` holds; fails after `within_s`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, f"not seen within {within_s}s"
        time.sleep(0.05)
    return time.monotonic() - started


def answers_mayor(url: str) -> bool:
    r = ask(url, MAYOR)
    assert r.status_code == 200, r.text
    return "Alice Grant" in r.json()["answer"]


def seen(answer: dict) -> tuple:
    """What a reader sees of an answer: its text and the exact quotes (scores are floats of the search)."""
    return answer["answer"], answer["abstained"], [(c["doc_id"], c["start"], c["end"], c["quote"]) for c in answer["citations"]]


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"QA_DATA_DIR": str(data_dir)}
    proc = subprocess.run([*QA, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_the_cli_writing_beside_a_live_server(tmp_path: Path, embed_model):
    data = tmp_path / "data"
    engine = QAEngine(Settings(data_dir=data), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    floods = write(tmp_path / "new" / "floods.md", FLOODS)
    with serving(create_app(engine=engine)) as url, Watch(url) as watch:
        assert not answers_mayor(url)
        run_cli("ingest", str(floods), data_dir=data)
        until(lambda: answers_mayor(url), within_s=2.0)
        run_cli("docs", "delete", "floods", data_dir=data)
        until(lambda: ask(url, MAYOR).json()["abstained"], within_s=2.0)
        # and a write by the server itself, after the others, is seen by a fresh process
        assert httpx.post(f"{url}/api/documents", json={"title": "Floods", "text": FLOODS.split("---")[-1], "id": "floods"}, timeout=60).status_code in (200, 201)
        listed = run_cli("docs", "list", data_dir=data).stdout
        assert "floods" in listed and "isis-k-explainer" in listed
        run_cli("ask", MAYOR, data_dir=data)
    assert watch.statuses and all(s == 200 for s in watch.statuses), watch.statuses
    assert not watch.wrong


@pytest.mark.server
def test_two_servers_on_one_chroma_server(chroma_server, tmp_path: Path, embed_model):
    host, port = chroma_server
    chroma = ChromaSettings(host=host, port=port, collection=f"t{uuid.uuid4().hex[:12]}")
    first = QAEngine(Settings(data_dir=tmp_path / "a", chroma=chroma), embed_model=embed_model)
    first.library.ingest([CORPUS])
    second = QAEngine(Settings(data_dir=tmp_path / "b", chroma=chroma), embed_model=embed_model)
    with serving(create_app(engine=first)) as a, serving(create_app(engine=second)) as b, Watch(b) as watch:
        added = httpx.post(f"{a}/api/documents", json={"title": "Floods", "text": FLOODS.split("---")[-1], "id": "floods"}, timeout=60)
        assert added.status_code in (200, 201), added.text
        until(lambda: answers_mayor(b), within_s=2.0)
        assert seen(ask(a, MAYOR).json()) == seen(ask(b, MAYOR).json())
        assert httpx.delete(f"{b}/api/documents/floods", timeout=60).status_code == 200
        until(lambda: ask(a, MAYOR).json()["abstained"], within_s=2.0)
        assert seen(ask(a, LEADER).json()) == seen(ask(b, LEADER).json())
    assert watch.statuses and all(s == 200 for s in watch.statuses), watch.statuses
    assert not watch.wrong


@pytest.mark.server
def test_chroma_going_away_is_a_503_and_heals(tmp_path: Path, embed_model):
    with chroma_run(tmp_path) as (host, port, proc):
        settings = Settings(data_dir=tmp_path / "d", chroma=ChromaSettings(host=host, port=port))
        engine = QAEngine(settings, embed_model=embed_model)
        engine.library.ingest([CORPUS])
        with serving(create_app(engine=engine)) as url:
            assert ask(url, LEADER).status_code == 200
            proc.kill()
            proc.wait(timeout=10)
            time.sleep(1.1)  # past the snapshot's check interval
            down, ready = ask(url, LEADER), httpx.get(f"{url}/readyz", timeout=10)
            listed = httpx.get(f"{url}/api/documents", timeout=10)
            assert down.status_code == 503 and "not reachable" in down.json()["error"]["message"]
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            assert listed.status_code == 503
            with chroma_run(tmp_path, port=port):  # back, on the same files
                until(lambda: ask(url, LEADER).status_code == 200, within_s=10)
                assert httpx.get(f"{url}/readyz", timeout=10).json()["status"] == "ready"


@pytest.mark.server
def test_a_server_started_before_chroma_waits_for_it(tmp_path: Path):
    from fastapi.testclient import TestClient

    from evals.live import free_port

    port = free_port()
    settings = Settings(data_dir=tmp_path / "d", chroma=ChromaSettings(host="127.0.0.1", port=port))
    with TestClient(create_app(settings)) as c:
        c.app.state.runtime.retry_s = 0.2
        time.sleep(0.5)
        assert c.get("/readyz").json()["status"] == "unavailable"
        assert c.post("/api/ask", json={"question": LEADER}).status_code == 503
        with chroma_run(tmp_path, port=port):
            until(lambda: c.get("/readyz").status_code == 200, within_s=60)
            # ready, with nothing indexed yet: a 409 that says so, not a 5xx
            assert c.post("/api/ask", json={"question": LEADER}).status_code == 409


def test_a_write_waits_for_another_writer_then_says_busy(tmp_path: Path, embed_model):
    import fcntl

    from qa.errors import IndexBusy

    engine = QAEngine(Settings(data_dir=tmp_path / "data"), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    engine.library.store._lock_timeout_s = 0.3  # a long ingest elsewhere holds the lock
    with open(tmp_path / "data" / "chroma" / "qa-write.lock", "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(IndexBusy, match="another process is writing"):
            engine.library.delete("isis-k-explainer")
    engine.library.delete("isis-k-explainer")  # once it is done, the write goes through
    assert engine.library.documents() == []


def test_another_process_small_write_is_searched_without_reloading_the_index(tmp_path: Path, embed_model, monkeypatch):
    """A reader whose embedded client predates another process's write does not reload the whole vector
    index for it: the new text's sentences are embedded and searched beside the index (work in proportion to
    the change), with the same answers a fresh client gives; a delete elsewhere leaves no trace; past
    FRESH_LIMIT sentences the client is reopened after all."""
    from qa.index.store import Store

    data = tmp_path / "data"
    reader = QAEngine(Settings(data_dir=data), embed_model=embed_model)
    reader.library.ingest([CORPUS])
    reader.library.index.check_every_s = 0  # looks for other processes' writes at every question
    assert "al-Muhajir" in reader.ask("Who leads ISIS-K?").answer
    generation = reader.library.store.generation
    writer = Library(Settings(data_dir=data), embed_model=embed_model)  # another client: another process's view
    floods = write(tmp_path / "new" / "floods.md", FLOODS)
    writer.ingest([floods])

    seen = reader.ask(MAYOR)
    assert seen.citations and seen.citations[0].doc_id == "floods", seen.answer
    assert reader.library.store.generation == generation  # no reopen: searched beside the index
    assert not reader.library.store.holds(writer.store.get("floods").hash)
    fresh = QAEngine(Settings(data_dir=data), embed_model=embed_model).ask(MAYOR)  # a client that loaded it all
    assert [(c.doc_id, c.start, c.end) for c in seen.citations] == [(c.doc_id, c.start, c.end) for c in fresh.citations]

    writer.delete("floods")
    assert reader.ask(MAYOR).abstained or all(c.doc_id != "floods" for c in reader.ask(MAYOR).citations)

    monkeypatch.setattr(Store, "FRESH_LIMIT", 1)  # any text written elsewhere now reopens the client
    writer.ingest([floods])
    assert reader.ask(MAYOR).citations[0].doc_id == "floods"
    assert reader.library.store.generation > generation and reader.library.store.holds(writer.store.get("floods").hash)
