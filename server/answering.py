"""One way to answer for every endpoint: check the request, ask the engine off the event loop, and
turn the answer into stream events (citations, then text deltas, then the full answer)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from qa.config import Settings
from qa.engine import QAEngine
from qa.errors import EmptyIndex, QAError
from qa.models import Answer, Turn
from server.errors import body as error_body

log = logging.getLogger(__name__)
_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Question:
    text: str
    history: tuple[Turn, ...]
    top_k: int | None


def checked(
    engine: QAEngine, settings: Settings, question: object, history: Sequence[Turn] | None, top_k: int | None
) -> Question:
    """Refuse bad input before any work (and before a stream starts, so it gets a 4xx, not an event).
    Only the latest turns of a long conversation are kept: follow-ups lean on the last exchange."""
    text = engine.check_question(question)
    if engine.index.snapshot().empty:
        raise EmptyIndex("nothing is indexed yet: add articles first (`qa ingest` or POST /api/documents)")
    keep = settings.server.max_history_turns
    return Question(text, tuple(history or ())[-keep:] if keep else (), top_k)


async def ask(engine: QAEngine, q: Question) -> Answer:
    return await run_in_threadpool(engine.ask, q.text, history=q.history, top_k=q.top_k)


def pieces(text: str) -> list[str]:
    """The answer cut into word-sized deltas, whitespace kept, so joining them gives the text back."""
    return _PIECE.findall(text)


async def events(engine: QAEngine, q: Question) -> AsyncIterator[tuple[str, dict]]:
    """(event, data) pairs: `citations`, `delta`..., `done`; or an `error` event if answering fails."""
    try:
        answer = await ask(engine, q)
    except QAError as err:
        yield "error", error_body(err.status, str(err))
        return
    except Exception as err:  # the stream has started: report it in-band, never as a broken connection
        log.exception("answering failed mid-stream")
        yield "error", error_body(500, f"internal error ({type(err).__name__}); the server log has details")
        return
    yield "citations", {"citations": [c.model_dump() for c in answer.citations], "abstained": answer.abstained}
    for piece in pieces(answer.answer):
        yield "delta", {"text": piece}
    yield "done", answer.model_dump()


def sse(event: str | None, data: dict | str) -> str:
    """One Server-Sent Event; without a name it is a plain `data:` line, as OpenAI streams are."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # proxies must not buffer the stream
