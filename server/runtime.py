"""What the app holds for its lifetime: settings and the engine, loaded once at start-up, off the
event loop, so /healthz answers at once and /readyz tells when questions can be served."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from qa.config import Settings
from qa.engine import QAEngine
from qa.errors import BackendUnavailable, IndexUnreachable, QAError
from qa.library import Library

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, make_engine: Callable[[], QAEngine]) -> None:
        self.settings = settings
        self._make_engine = make_engine
        self._engine: QAEngine | None = None
        self.ready = threading.Event()
        self.done = threading.Event()  # loaded or failed: nobody waits on a load that already failed
        self.error: str | None = None
        self.retry_s = 2.0
        self.retrying = False  # the last load failed on Chroma and is tried again

    def start(self) -> None:
        threading.Thread(target=self._load, name="qa-load", daemon=True).start()

    def _load(self) -> None:
        while True:
            try:
                engine = self._make_engine()
                engine.warm_up()  # the model and the index, now rather than on the first question
                self._engine = engine
                self.error, self.retrying = None, False
                self.ready.set()
                self.done.set()
                return
            except IndexUnreachable as err:  # Chroma not up yet: keep trying, and say so meanwhile
                self.error, self.retrying = str(err), True
                log.warning("waiting for the search index: %s", err)
            except Exception as err:  # reported by /readyz and every request, never a crash loop
                self.error = str(err) if isinstance(err, QAError) else f"{type(err).__name__}: {err}"
                log.error("could not load the engine: %s", self.error)
                self.retrying = False
                self.done.set()
                return
            self.done.set()  # requests meanwhile get a 503 at once instead of waiting
            time.sleep(self.retry_s)

    def engine(self, wait_s: float = 60.0) -> QAEngine:
        """The engine; a request that arrives while it loads waits for it rather than failing."""
        self.done.wait(wait_s)
        if self._engine is None:
            raise BackendUnavailable(f"the service is not ready: {self.error or 'still loading the model and index'}")
        return self._engine

    def library(self, wait_s: float = 60.0) -> Library:
        return self.engine(wait_s).library
