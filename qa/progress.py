"""What long commands show on stderr while they work: a progress bar and a "loading model…" line on a
terminal; elsewhere (logs, CI, pipes) a plain line now and then, and nothing for loading.

Only the CLI and the eval runner turn these on; the server never does."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import IO, Iterator

EVERY_FRACTION = 0.1  # off a terminal: a line once the work has moved on this much ...
EVERY_SECONDS = 10.0  # ... and this long since the last line, whichever comes later
FALLBACK_COLUMNS = 100  # a terminal that reports no width (some containers' ptys)
LOADING = "loading model…"


def plural(n: int, word: str, many: str | None = None, *, grouped: bool = False) -> str:
    """`1 article`, `2 articles`, `0 articles`; `grouped` writes thousands as people read them (12,345)."""
    count = f"{n:,}" if grouped else str(n)
    return f"{count} {word if n == 1 else many or word + 's'}"


def is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or FALLBACK_COLUMNS
    except (AttributeError, ValueError, OSError):
        return FALLBACK_COLUMNS


def _write(stream: IO[str], text: str) -> None:
    try:
        stream.write(text)
    except UnicodeEncodeError:  # a terminal that cannot show "…"
        stream.write(text.replace("…", "..."))
    stream.flush()


@contextmanager
def status(message: str, *, enabled: bool = True, stream: IO[str] | None = None) -> Iterator[None]:
    """`message` on one line while the block runs, erased when it ends (also on an error, so an error
    message that follows stays one line). Off a terminal it prints nothing."""
    out = stream or sys.stderr  # looked up per call: tests and pipes may swap it
    if not enabled or not is_terminal(out):
        yield
        return
    _write(out, message)
    try:
        yield
    finally:
        _write(out, "\r" + " " * len(message) + "\r")


class Progress:
    """A tqdm bar on a terminal; elsewhere a plain line every `EVERY_FRACTION` of the work and at most
    one per `every_seconds`, never the last one (the command's own summary follows)."""

    def __init__(self, total: int, desc: str, unit: str, *, enabled: bool = True, stream: IO[str] | None = None,
                 every_seconds: float = EVERY_SECONDS) -> None:  # fmt: skip
        self.total, self.desc, self.unit = total, desc, unit
        self.out = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.every_seconds = every_seconds
        self.n = 0
        self._bar = self._tqdm() if self.enabled and is_terminal(self.out) else None
        self._started = self._last_time = time.monotonic()
        self._last_n = 0

    def _tqdm(self):
        from tqdm import tqdm

        # `disable` is always passed: qa.backends sets TQDM_DISABLE for the libraries' own bars
        return tqdm(total=self.total, desc=self.desc, unit=self.unit, file=self.out, disable=False, leave=False,
                    ncols=_columns(self.out), dynamic_ncols=False)  # fmt: skip

    def update(self, n: int = 1) -> None:
        if not self.enabled:
            return
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._due():
            self._line()

    def _due(self) -> bool:
        now = time.monotonic()
        return (
            self.n < self.total
            and self.n - self._last_n >= EVERY_FRACTION * self.total
            and now - self._last_time >= self.every_seconds
        )

    def _line(self) -> None:
        self._last_n, self._last_time = self.n, time.monotonic()
        elapsed = self._last_time - self._started
        _write(self.out, f"{self.desc}: {self.n}/{plural(self.total, self.unit)} "
                         f"({100 * self.n // self.total}%) after {elapsed:.0f}s\n")  # fmt: skip

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
