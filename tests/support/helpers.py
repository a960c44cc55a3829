"""Paths and helpers the test files share."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from evals.live import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = ROOT / "corpus"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def started(client):
    """Enter a TestClient and wait, as a deployment's readiness probe would, until the engine is loaded."""

    @contextmanager
    def running():
        with client as c:
            assert c.app.state.runtime.ready.wait(120), c.app.state.runtime.error
            yield c

    return running()


@contextmanager
def chroma_run(path: Path, *, port: int | None = None):
    """A real `chroma run` process on loopback, storing under `path`; yields (host, port, process)."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.fail("the `chroma` command is missing; it ships with the chromadb package")
    port = port or free_port()
    log = open(path / "server.log", "wb")
    proc = subprocess.Popen(
        [exe, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"chroma run exited: {(path / 'server.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma run did not start within 60s")
    try:
        yield ("127.0.0.1", port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def damaged_copy(model_dir: Path, file: str, into: Path) -> Path:
    """A copy of a shipped model directory with 8 bytes of `file` near its end zeroed: what a truncated
    download or a swapped file looks like to the checksum check."""
    import shutil

    copy = into / model_dir.name
    shutil.copytree(model_dir, copy)
    with open(copy / file, "r+b") as f:
        f.seek(-64, 2)
        f.write(b"\0" * 8)
    return copy
