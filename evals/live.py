"""Run the app with uvicorn in a background thread on a free loopback port (the benches, the README's
screenshots and the tests serve it this way), or `qa serve` as a process of its own, as a user runs it
(the speed benches). Not part of the app."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

# Debian's chromium on a machine with no internet: without these it retries blocked connections at every start
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, stopped: Callable[[], str | None], timeout_s: float) -> None:
    """Until GET /readyz answers 200; RuntimeError with the reason if the server stops (`stopped` returns
    why) or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if (reason := stopped()) is not None:
            raise RuntimeError(reason)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server on {url} did not become ready")
        time.sleep(0.1)


@contextmanager
def serving(app: FastAPI, *, ready_timeout_s: float = 120.0) -> Iterator[str]:
    """Yields the base URL once /readyz answers 200; stops the server on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, lambda: None if thread.is_alive() else "the server thread stopped", ready_timeout_s)
    except RuntimeError:
        server.should_exit = True
        raise
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


QA = [sys.executable, "-m", "qa.cli"]  # the `qa` command of this interpreter


def timed(cmd: list[str], env: dict[str, str], *, refused: bool = False) -> float:
    """Seconds `cmd` takes to run to its end (it must succeed; with `refused`, it must exit 1 or 2)."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, check=not refused, capture_output=True, text=True)
    if refused and proc.returncode not in (1, 2):
        raise AssertionError(f"{cmd} was not refused: exit {proc.returncode}")
    return time.perf_counter() - started


@contextmanager
def qa_serve(env: dict[str, str], *, ready_timeout_s: float = 120.0) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """`qa serve` in a process of its own: yields (base URL, process, seconds until /readyz answered 200)."""
    port = free_port()
    log = tempfile.TemporaryFile()  # not a pipe: a server that logs a lot would block on a full one
    server = subprocess.Popen([*QA, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    def stopped() -> str | None:
        if server.poll() is None:
            return None
        log.seek(0)
        return f"qa serve exited: {log.read().decode(errors='replace')[-2000:]}"

    started = time.perf_counter()
    try:
        _wait_ready(url, stopped, ready_timeout_s)
        yield url, server, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
