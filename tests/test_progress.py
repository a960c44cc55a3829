"""What long commands show on stderr: a bar and a "loading model…" line on a real terminal (a pty),
plain lines now and then elsewhere, never a flood, and counts in the right plural."""

from __future__ import annotations

import fcntl
import io
import os
import select
import struct
import termios
from contextlib import contextmanager

import pytest

from qa.progress import Progress, plural, status


def test_plural():
    assert [plural(n, "article") for n in (0, 1, 2)] == ["0 articles", "1 article", "2 articles"]
    assert plural(1, "sentence") == "1 sentence" and plural(3, "query", "queries") == "3 queries"


@contextmanager
def terminal(columns: int = 100):
    """A real pseudo-terminal: what is written to `stream` is read back from the other end."""
    master, slave = os.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    stream = open(slave, "w", encoding="utf-8")
    chunks: list[str] = []

    poller = select.poll()  # not select.select: a long session's descriptors pass 1024, which select refuses
    poller.register(master, select.POLLIN)

    def read() -> str:
        stream.flush()
        while poller.poll(500):
            chunks.append(os.read(master, 65536).decode("utf-8", "replace"))
        return "".join(chunks)

    try:
        yield stream, read
    finally:
        stream.close()
        os.close(master)


def test_off_a_terminal_a_line_every_tenth_and_never_the_last():
    out = io.StringIO()
    with Progress(1000, "indexing 3 articles", "sentence", stream=out, every_seconds=0) as bar:
        for _ in range(1000):
            bar.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 9 and "\r" not in out.getvalue()
    assert lines[0].startswith("indexing 3 articles: 100/1000 sentences (10%) after ")
    assert lines[-1].startswith("indexing 3 articles: 900/1000 sentences (90%) after ")


def test_off_a_terminal_lines_wait_for_their_interval_and_loading_says_nothing():
    out = io.StringIO()
    with status("loading model…", stream=out), Progress(1000, "asking", "question", stream=out, every_seconds=3600) as bar:
        for _ in range(1000):
            bar.update()
    assert out.getvalue() == ""  # a fast run in a log: nothing at all, its summary says the rest


def test_one_step_is_never_a_line():
    out = io.StringIO()
    with Progress(1, "asking", "question", stream=out, every_seconds=0) as bar:
        bar.update()
    assert out.getvalue() == ""


@pytest.mark.parametrize("columns", [100, 0])  # 0: a terminal that reports no size, as some containers' do
def test_on_a_terminal_a_bar_is_drawn_and_then_cleared(columns):
    with terminal(columns) as (stream, read):
        with Progress(320, "indexing 40 articles", "sentence", stream=stream) as bar:
            for _ in range(5):
                bar.update(64)
        shown = read()
    frames = [f for f in shown.split("\r") if f.strip()]
    assert frames[0].startswith("indexing 40 articles:   0%") and "0/320" in frames[0]
    assert all(len(f) <= 100 for f in frames)
    assert shown.split("\r")[-1].strip() == ""  # the bar is gone: the command's summary line follows


def test_on_a_terminal_loading_is_one_line_cleared_also_on_an_error():
    with terminal() as (stream, read):
        with pytest.raises(RuntimeError):
            with status("loading model…", stream=stream):
                raise RuntimeError("the model is broken")
        shown = read()
    assert shown == "loading model…\r" + " " * len("loading model…") + "\r"


def test_disabled_shows_nothing_even_on_a_terminal():
    with terminal() as (stream, read):
        with status("loading model…", stream=stream, enabled=False), Progress(10, "x", "y", stream=stream, enabled=False) as bar:
            bar.update(10)
        assert read() == ""


def test_embedding_reports_each_batch_and_the_vectors_are_those_of_one_call(embed_model):
    """Ingest counts sentences one model batch at a time: the same batches, so the same vectors."""
    from qa.ingest.pipeline import _embed_by_length

    texts = [f"Sentence {i} {'is longer than most, with a clause or two more' * (i % 3)}." for i in range(150)]
    counted: list[int] = []
    vectors = _embed_by_length(embed_model, texts, done=counted.append)
    assert counted == [64, 64, 22] and len(vectors) == len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    whole = embed_model.get_text_embedding_batch([texts[i] for i in order])
    assert all(vectors[i] == whole[k] for k, i in enumerate(order))
