"""The chat page. Everything from articles and questions goes through Jinja2's autoescape (server side) or
textContent (in the scripts); a strict Content-Security-Policy backs that up. With JavaScript the chat
page does everything through the JSON API (server/api.py), the library included (a panel,
server/static/library.js). Without it, questions are form posts to `/` (answered here), and the library
is a set of plain pages (server/library_pages.py). What the pages say is in server/wording.py; forms are
read by server/forms.py."""

from __future__ import annotations

import json
import logging
import re
from functools import partial
from pathlib import Path
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from qa.errors import BadInput, NotFound, QAError
from qa.schemas import UNVERIFIED, Answer, ArticleInfo, Citation, Filters, Turn
from qa.text import CITATION_MARKER, date_label, period_words
from server import answering, deps
from server.errors import ApiError
from server.forms import check_key, form_key, read_form
from server.runtime import Runtime
from server.wording import citation_source, error_words, plain_error, plural, safe_url, size_text, source_label

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True))
router = APIRouter(include_in_schema=False)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")  # fmt: skip
_SEGMENT = re.compile(CITATION_MARKER.pattern + "|" + re.escape(UNVERIFIED))
_HISTORY = TypeAdapter(list[Turn])


templates.env.filters["plural"] = plural
templates.env.globals.update(source_label=source_label, size_text=size_text)


# -- the chat page -------------------------------------------------------------------------------
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
            "where": f"{citation_source(c)} · {date_label(c.published)}",
            "before": c.passage[:qs], "quote": c.passage[qs:qe], "after": c.passage[qe:],
            "whole": f"/library/{quote(c.doc_id, safe='')}?start={c.start}&end={c.end}#quote"}  # fmt: skip


def _stats(rt: Runtime) -> dict:
    try:
        return rt.library(wait_s=30).stats()
    except QAError as err:
        return {"error": error_words(err)}


def upload_limit(rt: Runtime) -> int:
    """The largest file the page can send: the file limit, or the request limit if that is lower."""
    return min(rt.settings.ingest.max_file_bytes, rt.settings.server.max_body_bytes)


def page_context(rt: Runtime) -> dict:
    return {"write_key": rt.settings.api_key is not None, "read_key": deps.reads_protected(rt.settings),
            "max_upload": upload_limit(rt), "feeds_minutes": f"{rt.settings.feeds.refresh_minutes:g}"}  # fmt: skip


def _page(request: Request, rt: Runtime, *, turns: list[dict] | None = None, status: int = 200, question: str = "",
          history: list[Turn] | None = None, mode: str | None = None, scope: list[ArticleInfo] | None = None):  # fmt: skip
    context = {
        **page_context(rt),
        "stats": _stats(rt), "turns": turns or [], "question": question, "scope": scope or [],
        "history_json": json.dumps([t.model_dump() for t in history or []]),
        "key_required": deps.reads_protected(rt.settings), "max_chars": rt.settings.max_question_chars,
        "llm": rt.settings.llm if rt.settings.llm.enabled else None, "mode": mode,
    }  # fmt: skip
    return templates.TemplateResponse(
        request, "index.html", context, status_code=status, headers={"Content-Security-Policy": CSP}
    )


MAX_SCOPE = 100  # articles ticked on the page without JavaScript (the API takes up to 1,000)


def _scope(rt: Runtime, ids: list[str]) -> list[ArticleInfo]:
    """The ticked articles ("ask only these": `?doc=a&doc=b` from the library, hidden fields in the form)."""
    ids = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if len(ids) > MAX_SCOPE:
        raise BadInput(f"too many articles ticked ({len(ids)}; the limit is {MAX_SCOPE})")
    if not ids:
        return []
    infos = rt.engine().library.infos(ids)
    if missing := sorted(set(ids) - {i.id for i in infos}):
        raise NotFound(f"no article with id {missing[0]!r}: it may have been deleted")
    return infos


@router.get("/", response_class=HTMLResponse)
async def page(request: Request, rt: Runtime = Depends(deps.runtime)):
    ids = request.query_params.getlist("doc")
    if not ids:
        return await run_in_threadpool(_page, request, rt)
    try:
        check_key(None, rt, needed=deps.reads_protected(rt.settings))
        scope = await run_in_threadpool(_scope, rt, ids)
    except (QAError, ApiError) as err:
        turns = [{"question": "", "error": error_words(err, what="question")}]
        return await run_in_threadpool(partial(_page, request, rt, turns=turns, status=err.status))
    return await run_in_threadpool(partial(_page, request, rt, scope=scope))


def answer_turn(answer: Answer) -> dict:
    ids, flagged = {c.id for c in answer.citations}, answer.verify == "flag"
    return {"question": answer.question, "answer": answer, "segments": segments(answer.answer, ids, flagged=flagged),
            "sources": [source_view(c) for c in answer.citations],
            "notes": [n for n in (scope_note(answer), answer.period and period_words(answer.period).capitalize() + ".") if n]}  # fmt: skip


def scope_note(answer: Answer) -> str:
    return f"Within {plural(answer.scope.articles, 'chosen article')}." if answer.scope else ""


@router.post("/", response_class=HTMLResponse)
async def form_post(request: Request, rt: Runtime = Depends(deps.runtime)):
    """The page without JavaScript: a plain form post returns the page with the answer in it."""
    question, mode, key = "", None, deps.presented_key(request)
    history: list[Turn] = []
    scope: list[ArticleInfo] = []
    try:
        form = await read_form(request, rt, max_files=0, max_fields=6 + MAX_SCOPE + 1)
        question = form.get("question")
        question = question if isinstance(question, str) else ""
        mode = str(form.get("mode") or "") or None
        key = form_key(form, request)
        try:
            history = _HISTORY.validate_json(str(form.get("history") or "[]"))
        except ValidationError as err:
            raise BadInput("the conversation history sent with the form is not valid") from err
        check_key(key, rt, needed=deps.reads_protected(rt.settings))
        engine = await run_in_threadpool(rt.engine)
        scope = await run_in_threadpool(_scope, rt, [str(d) for d in form.getlist("doc")])
        filters = Filters(doc_ids=[i.id for i in scope]) if scope else None
        answer = await answering.ask(engine, await answering.checked(engine, rt.settings, question, history, None, mode,
                                                                     filters=filters))  # fmt: skip
    except (QAError, ApiError) as err:
        words = error_words(err, what="question", key_sent=bool(key))
        turns, status = [{"question": question, "error": words}], err.status
    except Exception:  # the detail goes to the log; the page says it plainly
        log.exception("answering a form post failed")
        turns, status = [{"question": question, "error": plain_error(500)}], 500
    else:
        turns, status = [answer_turn(answer)], 200
        history = [*history, Turn(role="user", content=answer.question), Turn(role="assistant", content=answer.answer)]
    earlier = [{"question": history[i].content, "plain": history[i + 1].content}
               for i in range(0, len(history) - (2 if status == 200 else 0), 2) if i + 1 < len(history)]  # fmt: skip
    kept = "" if status == 200 else question  # a refused question stays in the box to be fixed
    return await run_in_threadpool(
        lambda: _page(request, rt, turns=earlier + turns, status=status, history=history, question=kept, mode=mode, scope=scope)
    )


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers that do not read the SVG icon the pages name, and tools, ask for this one."""
    return FileResponse(HERE / "static" / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})


