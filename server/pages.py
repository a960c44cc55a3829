"""The chat page. Everything from articles and questions goes through Jinja2's autoescape (server
side) or textContent (in chat.js); a strict Content-Security-Policy backs that up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from qa.errors import BadInput, QAError
from qa.schemas import UNVERIFIED, Answer, Citation, Turn
from qa.text import CITATION_MARKER
from server import answering, deps
from server.errors import ApiError
from server.runtime import Runtime

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True))
router = APIRouter(include_in_schema=False)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")  # fmt: skip
_SEGMENT = re.compile(CITATION_MARKER.pattern + "|" + re.escape(UNVERIFIED))
_HISTORY = TypeAdapter(list[Turn])


def safe_url(url: str | None) -> str | None:
    """Only plain http(s) links are shown. Browsers drop tabs and newlines inside a scheme
    ("java\tscript:"), so any whitespace or control character refuses the URL outright."""
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    return url if url.lower().startswith(("http://", "https://")) and urlparse(url).netloc else None


def segments(text: str, ids: set[int], *, flagged: bool = False) -> list[tuple[str, int | None]]:
    """Answer text as (text, None) and ("[n]", n) pieces; only markers of real citations become
    links (a quote may itself contain "[2]"). With `flagged`, "(unverified)" marks are (text, 0)."""
    out, pos = [], 0
    for m in _SEGMENT.finditer(text):
        if m.group(1) and int(m.group(1)) in ids or (flagged and m.group(0) == UNVERIFIED):
            out += [(text[pos : m.start()], None), (m.group(0), int(m.group(1) or 0))]
            pos = m.end()
    return out + [(text[pos:], None)]


def source_view(c: Citation) -> dict:
    qs, qe = c.start - c.passage_start, c.end - c.passage_start
    return {"id": c.id, "title": c.title, "url": safe_url(c.url), "published": c.published, "doc_id": c.doc_id,
            "before": c.passage[:qs], "quote": c.passage[qs:qe], "after": c.passage[qe:]}  # fmt: skip


def _stats(rt: Runtime) -> dict:
    try:
        return rt.library(wait_s=30).stats()
    except QAError as err:
        return {"error": str(err)}


def _page(request: Request, rt: Runtime, *, turns: list[dict] | None = None, status: int = 200, question: str = "",
          history: list[Turn] | None = None, mode: str | None = None):  # fmt: skip
    context = {
        "stats": _stats(rt), "turns": turns or [], "question": question,
        "history_json": json.dumps([t.model_dump() for t in history or []]),
        "key_required": deps.reads_protected(rt.settings), "max_chars": rt.settings.max_question_chars,
        "llm": rt.settings.llm if rt.settings.llm.enabled else None, "mode": mode,
    }  # fmt: skip
    return templates.TemplateResponse(
        request, "index.html", context, status_code=status, headers={"Content-Security-Policy": CSP}
    )


@router.get("/", response_class=HTMLResponse)
async def page(request: Request, rt: Runtime = Depends(deps.runtime)):
    return await run_in_threadpool(_page, request, rt)


def answer_turn(answer: Answer) -> dict:
    ids, flagged = {c.id for c in answer.citations}, answer.verify == "flag"
    return {"question": answer.question, "answer": answer, "segments": segments(answer.answer, ids, flagged=flagged),
            "sources": [source_view(c) for c in answer.citations]}  # fmt: skip


@router.post("/", response_class=HTMLResponse)
async def form_post(request: Request, rt: Runtime = Depends(deps.runtime)):
    """The page without JavaScript: a plain form post returns the page with the answer in it."""
    form = await request.form(max_files=0, max_fields=6)
    question = form.get("question")
    question = question if isinstance(question, str) else ""
    mode = str(form.get("mode") or "") or None
    history: list[Turn] = []
    try:
        try:
            history = _HISTORY.validate_json(str(form.get("history") or "[]"))
        except ValidationError as err:
            raise BadInput("the conversation history sent with the form is not valid") from err
        key = str(form.get("api_key") or "") or deps.presented_key(request)
        if deps.reads_protected(rt.settings) and not deps.key_matches(key, rt.settings):
            raise ApiError(401, "a valid API key is required")
        engine = await run_in_threadpool(rt.engine)
        answer = await answering.ask(engine, await answering.checked(engine, rt.settings, question, history, None, mode))
    except (QAError, ApiError) as err:
        turns, status = [{"question": question, "error": str(err)}], err.status
    else:
        turns, status = [answer_turn(answer)], 200
        history = [*history, Turn(role="user", content=answer.question), Turn(role="assistant", content=answer.answer)]
    earlier = [{"question": history[i].content, "plain": history[i + 1].content}
               for i in range(0, len(history) - (2 if status == 200 else 0), 2) if i + 1 < len(history)]  # fmt: skip
    kept = "" if status == 200 else question  # a refused question stays in the box to be fixed
    return await run_in_threadpool(
        lambda: _page(request, rt, turns=earlier + turns, status=status, history=history, question=kept, mode=mode)
    )
