"""One way to answer for every endpoint: check the request, ask the engine off the event loop, and
turn the answer into stream events.

Extractive: `citations`, then `delta`s of the answer, then `done`. Generative: `delta`s of the draft
as the LLM writes it, a `sentence` event as each sentence is verified, `verified` pieces of the
checked answer, then `done` with the verified answer that replaces the draft."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from qa.config import Settings
from qa.engine import QAEngine
from qa.errors import EmptyIndex, QAError
from qa.schemas import Answer, Delta, Filters, SentenceCheck, Turn, Verified
from qa.text import check_text
from server.errors import INTERNAL
from server.errors import body as error_body

log = logging.getLogger(__name__)
_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Question:
    text: str
    history: tuple[Turn, ...]
    top_k: int | None
    mode: str = "extractive"
    verify: str | None = None
    filters: Filters | None = None


async def checked(*args, **kwargs) -> "Question":
    """`_checked` off the event loop: the snapshot it reads may wait on Chroma."""
    return await run_in_threadpool(_checked, *args, **kwargs)


def _checked(
    engine: QAEngine, settings: Settings, question: object, history: Sequence[Turn] | None, top_k: int | None,
    mode: str | None = None, verify: str | None = None, filters: Filters | None = None,
) -> Question:  # fmt: skip
    """Refuse bad input before any work (and before a stream starts, so it gets a 4xx, not an event).
    Only the latest turns of a long conversation are kept: follow-ups lean on the last exchange."""
    text = engine.check_question(question)
    for i, turn in enumerate(history or ()):
        check_text(turn.content, f"history.{i}.content")
    if engine.library.is_empty():
        raise EmptyIndex("nothing is indexed yet: add articles first (`qa ingest` or POST /api/documents)")
    if filters is not None and not filters.empty:
        engine.check_filters(filters)
    keep = settings.server.max_history_turns
    return Question(text, tuple(history or ())[-keep:] if keep else (), top_k, engine.resolve_mode(mode), verify, filters)


async def ask(engine: QAEngine, q: Question) -> Answer:
    return await run_in_threadpool(engine.ask, q.text, history=q.history, top_k=q.top_k, mode=q.mode, verify=q.verify,
                                   filters=q.filters)  # fmt: skip


def pieces(text: str) -> list[str]:
    """The answer cut into word-sized deltas, whitespace kept, so joining them gives the text back."""
    return _PIECE.findall(text)


async def events(engine: QAEngine, q: Question) -> AsyncIterator[tuple[str, dict]]:
    """(event, data) pairs as the module docstring lists them; an `error` event if answering fails."""
    try:
        if q.mode == "generative":
            stream = engine.stream(q.text, history=q.history, top_k=q.top_k, mode=q.mode, verify=q.verify, filters=q.filters)
            async for event in iterate_in_threadpool(stream):
                yield _NAMES[type(event)], event.model_dump(mode="json")
            return
        answer = await ask(engine, q)
    except QAError as err:
        yield "error", error_body(err.status, str(err), code=err.code)
        return
    except Exception:  # the stream has started: report it in-band, never as a broken connection
        log.exception("answering failed mid-stream")
        yield "error", error_body(500, INTERNAL)
        return
    yield "citations", {"citations": [c.model_dump() for c in answer.citations], "abstained": answer.abstained}
    for piece in pieces(answer.answer):
        yield "delta", {"text": piece}
    yield "done", answer.model_dump(mode="json")


_NAMES = {Delta: "delta", SentenceCheck: "sentence", Verified: "verified", Answer: "done"}


def sse(event: str | None, data: dict | str) -> str:
    """One Server-Sent Event; without a name it is a plain `data:` line, as OpenAI streams are."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # proxies must not buffer the stream
