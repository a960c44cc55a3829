"""The chat page and the library pages. Everything from articles and questions goes through Jinja2's
autoescape (server side) or textContent (in the scripts); a strict Content-Security-Policy backs that up.

With JavaScript the chat page does everything through the JSON API (server/api.py), the library
included (a panel, server/static/library.js). Without it, the form posts here: questions to `/`, and
the library is a set of plain pages: `/library` lists the articles and adds one (pasted or a file),
`/library/{id}` shows one, `/library/{id}/delete` asks before it deletes.

Errors reach people as plain sentences (`plain_error`; plainError in common.js words them the same
way); the technical detail stays in the server log. The forms are read by `read_form`, so that every
refusal of a form post is the page's own sentence too: a body over the request limit, a form that
cannot be parsed, a field that is not UTF-8."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from functools import partial
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes, urlparse

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from qa import progress
from qa.errors import BadInput, NotFound, QAError
from qa.library import Library
from qa.schemas import UNVERIFIED, Answer, ArticleInfo, Citation, Filters, IngestReport, Parsed, Turn
from qa.text import CITATION_MARKER, InvalidText, date_label, period_words
from server import answering, deps
from server.api import parsed_upload
from server.errors import ApiError
from server.limits import BodyTooLarge
from server.runtime import Runtime

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True))
router = APIRouter(include_in_schema=False)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")  # fmt: skip
_SEGMENT = re.compile(CITATION_MARKER.pattern + "|" + re.escape(UNVERIFIED))
_HISTORY = TypeAdapter(list[Turn])


# -- words ---------------------------------------------------------------------------------------
def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 passage', '2 passages', '12,345 articles': the CLI's words, with thousands grouped for reading."""
    return progress.plural(n, one, many, grouped=True)


def size_text(n: int) -> str:
    """A byte limit as people read it: 5000000 -> '5 MB'."""
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return plural(n, "byte")


def sentence(text: str) -> str:
    """A server message as a sentence: capital first letter, final full stop."""
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


_JARGON = re.compile(r"\b[A-Za-z]*(Error|Exception)\b|Traceback")


def plain_error(status: int, message: str = "", *, code: str | None = None, what: str = "request",
                key_sent: bool = False, limit: int | None = None) -> str:  # fmt: skip
    """What to tell a person about a refused or failed request. `what` is what they sent ("question",
    "article", "file", "library"); `limit` the upload limit in bytes. Mirrors plainError in common.js."""
    if status in (401, 403):
        if key_sent:
            return "That API key was not accepted. Check it and try again."
        return "This needs the API key: enter it in the API key field and try again."
    if status == 413:
        if what in ("file", "article", "link") and limit:
            return f"That {'page' if what == 'link' else what} is too large (the limit is {size_text(limit)})."
        return f"That {what} is too large."
    if status == 503:
        if code == "index_busy" or "another process is writing" in message:
            return "Another process is writing to the index; try again in a moment."
        if "reachable" not in message and ("loading" in message or "not ready" in message):
            return "The service is still starting up; try again in a moment."
        return "The search index is not reachable; try again in a moment."
    if status >= 500 or status <= 0:
        return "Something went wrong on our side; try again."
    if status == 409 and (code == "nothing_indexed" or "nothing is indexed" in message):
        return "Nothing is indexed yet: add an article in the Library first."
    if status == 404 and what in ("article", "library"):
        return "That article is no longer in the library."
    if not message.strip() or _JARGON.search(message):
        return "That did not work; check what you entered and try again."
    return sentence(message)


def _form_key(form, request: Request) -> str | None:
    """The key typed into a form (a plain form cannot send a header), else one sent in the headers."""
    return str(form.get("api_key") or "") or deps.presented_key(request)


def _check_key(key: str | None, rt: Runtime, *, needed: bool = True) -> None:
    """Forms' twin of deps.require_write / require_read (which read only headers)."""
    if needed and not deps.key_matches(key, rt.settings):  # no key configured: always matches
        raise ApiError(401, "a valid API key is required")


def _error_words(err: QAError | ApiError, **kwargs) -> str:
    message = err.message if isinstance(err, ApiError) else str(err)
    return plain_error(err.status, message, code=getattr(err, "code", None), **kwargs)


def safe_url(url: str | None) -> str | None:
    """Only plain http(s) links are shown. Browsers drop tabs and newlines inside a scheme
    ("java\tscript:"), so any whitespace or control character refuses the URL outright."""
    if not url or any(ch.isspace() or ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in url):
        return None
    return url if url.lower().startswith(("http://", "https://")) and urlparse(url).netloc else None


def citation_source(c: Citation) -> str:
    """A cited article's source as a reader names it: its site, its link's host, its file, or 'uploaded'."""
    return source_label(ArticleInfo.model_construct(source=c.source, url=c.url, site=c.site))


def source_label(info: ArticleInfo) -> str:
    """Where an article came from, for the list: its site, its file, or 'uploaded'."""
    url = safe_url(info.url)
    if info.site:
        return info.site
    if url:
        return (urlparse(url).hostname or url).removeprefix("www.")
    return "uploaded" if info.source == "api" else info.source.replace("\\", "/").rsplit("/", 1)[-1]  # the file's name


templates.env.filters["plural"] = plural
templates.env.globals.update(source_label=source_label, size_text=size_text)


# -- reading a form ------------------------------------------------------------------------------
_LABELS = {"api_key": "the API key", "url": "the link", "published": "the date"}


class FormRefused(BadInput):
    """A form post that could not be read: too large (413) or malformed (400). `file`: whether the
    body held a chosen file, so the page can say "that file" rather than "that article"; `fields`: the
    text fields read before it stopped, to keep in the form."""

    def __init__(self, message: str, *, status: int = 400, file: bool = False, fields: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.file, self.fields = status, file, fields or {}
        self.code = "too_large" if status == 413 else "invalid_request"


def _utf8(data: bytes, field: str) -> str:
    """A field's bytes as text (our pages are UTF-8, so browsers send that); bytes that are not UTF-8
    are refused, never read as Latin-1 or made U+FFFD."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"{_LABELS.get(field, field)} is not valid UTF-8 (invalid byte 0x{data[exc.start]:02X} "
                          f"at byte {exc.start + 1}); send the form as UTF-8", field) from exc  # fmt: skip


class _Multipart(MultiPartParser):
    """Starlette's multipart parser, but a field that is not valid text is refused (Starlette reads it
    as Latin-1), and whether a named file had begun is kept."""

    file = False

    def read(self) -> dict[str, str]:
        return {k: v for k, v in self.items if isinstance(v, str)}

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        upload = self._current_part.file
        self.file = self.file or bool(upload is not None and upload.filename)

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            self.items.append((part.field_name, _utf8(bytes(part.data), part.field_name)))
        else:
            super().on_part_end()


class _Urlencoded(FormParser):
    """Starlette's urlencoded parser, but %-escapes that are not UTF-8 are refused (Starlette makes
    them U+FFFD)."""

    file = False

    def read(self) -> dict[str, str]:
        return dict(self._items)

    def on_field_end(self) -> None:
        raw = bytes(self._field_value)
        super().on_field_end()
        name = self._items[-1][0]
        self._items[-1] = (name, _utf8(unquote_to_bytes(raw.replace(b"+", b" ")), name))


async def read_form(request: Request, rt: Runtime, *, max_files: int, max_fields: int) -> FormData:
    """A browser form post's fields (and its file), or FormRefused / InvalidText: a page answers those
    in its own words, never with the API's JSON. A field may be as large as the request (pasted text
    up to the article limit): the body limit is what bounds memory."""
    kind = deps.media_type(request)
    options = {"max_fields": max_fields, "max_part_size": rt.settings.server.max_body_bytes}
    if kind == "multipart/form-data":
        parser: _Multipart | _Urlencoded = _Multipart(request.headers, request.stream(), max_files=max_files, **options)
    elif kind == "application/x-www-form-urlencoded":
        parser = _Urlencoded(request.headers, request.stream(), **options)
    else:
        return FormData()
    try:
        return await parser.parse()
    except BodyTooLarge as exc:
        raise FormRefused(exc.detail, status=413, file=parser.file, fields=parser.read()) from exc
    except MultiPartException as exc:
        message = f"the form could not be read ({exc.message.rstrip('.').replace('. ', '; ').lower()})"
        raise FormRefused(message, file=parser.file, fields=parser.read()) from exc


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
        return {"error": _error_words(err)}


def upload_limit(rt: Runtime) -> int:
    """The largest file the page can send: the file limit, or the request limit if that is lower."""
    return min(rt.settings.ingest.max_file_bytes, rt.settings.server.max_body_bytes)


def _common(rt: Runtime) -> dict:
    return {"write_key": rt.settings.api_key is not None, "read_key": deps.reads_protected(rt.settings),
            "max_upload": upload_limit(rt), "feeds_minutes": f"{rt.settings.feeds.refresh_minutes:g}"}  # fmt: skip


def _page(request: Request, rt: Runtime, *, turns: list[dict] | None = None, status: int = 200, question: str = "",
          history: list[Turn] | None = None, mode: str | None = None, scope: list[ArticleInfo] | None = None):  # fmt: skip
    context = {
        **_common(rt),
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
        _check_key(None, rt, needed=deps.reads_protected(rt.settings))
        scope = await run_in_threadpool(_scope, rt, ids)
    except (QAError, ApiError) as err:
        turns = [{"question": "", "error": _error_words(err, what="question")}]
        return await run_in_threadpool(lambda: _page(request, rt, turns=turns, status=err.status))
    return await run_in_threadpool(lambda: _page(request, rt, scope=scope))


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
        key = _form_key(form, request)
        try:
            history = _HISTORY.validate_json(str(form.get("history") or "[]"))
        except ValidationError as err:
            raise BadInput("the conversation history sent with the form is not valid") from err
        _check_key(key, rt, needed=deps.reads_protected(rt.settings))
        engine = await run_in_threadpool(rt.engine)
        scope = await run_in_threadpool(_scope, rt, [str(d) for d in form.getlist("doc")])
        filters = Filters(doc_ids=[i.id for i in scope]) if scope else None
        answer = await answering.ask(engine, await answering.checked(engine, rt.settings, question, history, None, mode,
                                                                     filters=filters))  # fmt: skip
    except (QAError, ApiError) as err:
        words = _error_words(err, what="question", key_sent=bool(key))
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


# -- the library without JavaScript --------------------------------------------------------------
def _library_page(request: Request, rt: Runtime, view: str, *, status: int = 200, **context) -> Response:
    context = {**_common(rt), "view": view, "banner": None, "error": None, "form": {}, "replace": [], **context}
    return templates.TemplateResponse(
        request, "library.html", context, status_code=status, headers={"Content-Security-Policy": CSP}
    )


def _refused_read(request: Request, rt: Runtime) -> Response | None:
    """With protected reads the key must come with the request; a plain link cannot send it."""
    if deps.reads_protected(rt.settings) and not deps.key_matches(deps.presented_key(request), rt.settings):
        return _library_page(request, rt, "locked", status=401)
    return None


def _listing(request: Request, rt: Runtime, *, status: int = 200, **context) -> Response:
    try:
        library = rt.library(wait_s=30)
        docs = sorted(library.documents(), key=lambda i: (i.title.casefold(), i.id))
        context.setdefault("feeds", library.feeds.list())
    except QAError as err:
        return _library_page(request, rt, "list", status=err.status, docs=[], error=_error_words(err, what="library"))
    return _library_page(request, rt, "list", status=status, docs=docs, **context)


@router.get("/library", response_class=HTMLResponse)
async def library_page(request: Request, rt: Runtime = Depends(deps.runtime)):
    if (refused := _refused_read(request, rt)) is not None:
        return refused
    added, deleted = request.query_params.get("added"), request.query_params.get("deleted")
    banner = f"Deleted “{deleted}”." if deleted and _genuine(deleted, request.query_params.get("sig")) else None

    def render() -> Response:
        infos = rt.library(wait_s=30).infos(added.split(",")) if added else []
        words = added_words(IngestReport(added=[i.id for i in infos]), infos) if infos else banner
        return _listing(request, rt, banner=words, fresh=[i.id for i in infos])

    return await run_in_threadpool(render)


# The "Deleted “…”." banner names a title only this process put in the link (signed with a key made at
# start-up): a link from anywhere else, with any text in `?deleted=`, shows no banner. (Behind a load
# balancer another server may answer the redirect: that page simply has no banner.)
_BANNER_KEY = secrets.token_bytes(32)


def _signed(title: str) -> str:
    return hmac.new(_BANNER_KEY, b"deleted:" + title.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def _genuine(title: str, sig: str | None) -> bool:
    return hmac.compare_digest(_signed(title).encode(), (sig or "").encode("utf-8", "surrogatepass"))


def added_words(report: IngestReport, infos: list[ArticleInfo], skipped: int = 0, *, file: bool = True) -> str:
    """One line on what an add did (library.js says the same). `file`: whether a file was sent (its name
    gave the ids), not pasted text (its title did)."""
    title = {i.id: i.title for i in infos}
    plain = [i for i in report.added if i not in report.renamed]  # the others are added beside a namesake
    parts = []
    if len(plain) == 1 and plain[0] in title:
        info = next(i for i in infos if i.id == plain[0])
        counts = f"{plural(info.chunks, 'passage')}, {plural(info.sentences, 'sentence')}"
        parts.append(f"Added “{info.title}”: {counts}.")
    elif plain:
        parts.append(f"Added {plural(len(plain), 'article')}.")
    why = "its file has the same name" if file else "it has the same title"
    parts += [f"Added “{title.get(i, i)}” beside “{title.get(old, old)}”: {why} but tells another story."
              for i, old in report.renamed.items() if i in report.added]  # fmt: skip
    parts += [f"Updated “{title.get(i, i)}”: its new text is indexed." for i in report.updated]
    parts += [f"“{title.get(i, i)}” is already in the library, unchanged." for i in report.unchanged]
    parts += [f"That text is already in the library as “{title.get(s, s)}”." for s in report.duplicates.values()]
    if skipped:
        parts.append(f"Skipped {plural(skipped, 'record')} that could not be read.")
    return " ".join(parts) or "Nothing new was added."


def replacements(renamed: dict[str, str], infos: list[ArticleInfo], *, it: bool = True) -> list[dict]:
    """The banner's "Replace “…” with it" forms: one for each article added beside a namesake, while both
    are listed. "with it" only right after the one sentence that names it; else the new title."""
    title = {i.id: i.title for i in infos}
    pairs = [(new, old) for new, old in renamed.items() if new in title and old in title]
    named = not it or len(pairs) > 1
    return [{"id": new, "to": old, "label": f"Replace “{title[old]}” with " + (f"“{title[new]}”" if named else "it")}
            for new, old in pairs]  # fmt: skip


def _fields(form) -> dict[str, str]:
    return {k: v for k in ("title", "text", "url", "published", "link", "api_key") if isinstance(v := form.get(k), str)}


async def _parsed_form(form, library: Library, rt: Runtime) -> Parsed:
    """The add forms' articles: from a link, the chosen file, else the pasted fields."""
    upload, fields = form.get("file"), _fields(form)
    if fields.get("link", "").strip():
        return Parsed(articles=[await run_in_threadpool(library.fetch, fields["link"].strip())])
    if isinstance(upload, UploadFile) and upload.filename:
        return await parsed_upload(upload, library, rt.settings.ingest.max_file_bytes)
    title, text = fields.get("title", "").strip(), fields.get("text", "").replace("\r\n", "\n")  # browsers send CRLF
    if not title or not text.strip():
        raise BadInput("give the article a title and its text, or choose a file")
    article = library.new_article(title=title, text=text, url=fields.get("url", "").strip() or None,
                                  published=fields.get("published", "").strip() or None)  # fmt: skip
    return Parsed(articles=[article])


@router.post("/library", response_class=HTMLResponse)
async def library_add(request: Request, rt: Runtime = Depends(deps.runtime)):
    """Add an article from the form: pasted text, or a file (which wins if both are given)."""
    fields, upload, what = {}, None, "article"
    try:
        try:
            form = await read_form(request, rt, max_files=1, max_fields=10)
        except FormRefused as err:
            fields, what = _fields(err.fields), "file" if err.file else what
            raise
        fields, upload = _fields(form), form.get("file")
        what = "file" if isinstance(upload, UploadFile) and upload.filename else "link" if fields.get("link") else "article"
        _check_key(_form_key(form, request), rt)
        library = await run_in_threadpool(rt.library)
        parsed = await _parsed_form(form, library, rt)
        report = await run_in_threadpool(library.add, parsed.articles)
    except (QAError, ApiError) as err:
        words = _error_words(err, what=what, key_sent=bool(fields.get("api_key")), limit=upload_limit(rt))
        if upload is not None and what == "file" and err.status not in (401, 403, 413) and err.status < 500:  # which file
            words = f"Could not add “{upload.filename}”: {words[0].lower()}{words[1:]}"
        kept = {k: v for k, v in fields.items() if k != "api_key"}  # what was typed stays in the form
        return await run_in_threadpool(partial(_listing, request, rt, status=err.status, error=words, form=kept))
    except Exception:
        log.exception("adding an article from the library form failed")
        return await run_in_threadpool(partial(_listing, request, rt, status=500, error=plain_error(500)))
    if report.added and not (report.updated or report.unchanged or report.duplicates or report.renamed or parsed.skipped):
        return RedirectResponse("/library?added=" + quote(",".join(report.added)), status_code=303)
    infos = await run_in_threadpool(library.infos, [*report.ids, *report.renamed.values()])  # titles of namesakes too
    words = added_words(report, infos, len(parsed.skipped), file=what == "file")
    replace = replacements(report.renamed, infos)
    return await run_in_threadpool(partial(_listing, request, rt, banner=words, fresh=report.ids, replace=replace))


def _stored(rt: Runtime, doc_id: str):
    return rt.library(wait_s=30).shown(doc_id)  # masked as citations are


async def _article_or_page(request: Request, rt: Runtime, doc_id: str):
    """(the stored article, None), or (None, the page to answer with): refused read, unknown id, outage."""
    if (refused := _refused_read(request, rt)) is not None:
        return None, refused
    try:
        return await run_in_threadpool(_stored, rt, doc_id), None
    except QAError as err:
        words = _error_words(err, what="article")
        return None, await run_in_threadpool(partial(_listing, request, rt, status=err.status, error=words))


@router.get("/library/{doc_id}", response_class=HTMLResponse)
async def library_article(request: Request, doc_id: str, rt: Runtime = Depends(deps.runtime)):
    """One article's text; `?start=&end=` marks a cited quote in it."""
    stored, page = await _article_or_page(request, rt, doc_id)
    if page is not None:
        return page
    text = stored.article.text
    try:
        start, end = int(request.query_params.get("start", "")), int(request.query_params.get("end", ""))
    except ValueError:
        start = end = 0
    parts = (text[:start], text[start:end], text[end:]) if 0 <= start < end <= len(text) else (text, "", "")
    return _library_page(request, rt, "article", info=stored.info(), article=stored.article, parts=parts,
                         url=safe_url(stored.article.url))  # fmt: skip


@router.get("/library/{doc_id}/delete", response_class=HTMLResponse)
async def library_confirm_delete(request: Request, doc_id: str, rt: Runtime = Depends(deps.runtime)):
    """The confirmation before a delete: a plain link cannot delete anything."""
    stored, page = await _article_or_page(request, rt, doc_id)
    if page is not None:
        return page
    return _library_page(request, rt, "confirm", info=stored.info())


@router.post("/library/{doc_id}/delete", response_class=HTMLResponse)
async def library_delete(request: Request, doc_id: str, rt: Runtime = Depends(deps.runtime)):
    key_sent = False
    try:
        form = await read_form(request, rt, max_files=0, max_fields=3)
        key_sent = bool(form.get("api_key"))
        _check_key(_form_key(form, request), rt)
        library = await run_in_threadpool(rt.library)
        title = (await run_in_threadpool(library.document, doc_id)).article.title
        await run_in_threadpool(library.delete, doc_id)
    except (QAError, ApiError) as err:
        words = _error_words(err, what="request" if isinstance(err, FormRefused) else "article", key_sent=key_sent)
        if err.status in (401, 403):  # ask again, on the same confirmation
            try:
                info = (await run_in_threadpool(_stored, rt, doc_id)).info()
            except QAError:
                pass
            else:
                return _library_page(request, rt, "confirm", status=err.status, info=info, error=words)
        return await run_in_threadpool(partial(_listing, request, rt, status=err.status, error=words))
    except Exception:
        log.exception("deleting %r from the library form failed", doc_id)
        return await run_in_threadpool(partial(_listing, request, rt, status=500, error=plain_error(500)))
    return RedirectResponse(f"/library?deleted={quote(title)}&sig={_signed(title)}", status_code=303)


def _move(library: Library, doc_id: str, to: str) -> tuple[str, str | None, str]:
    """(the moved article's title, the title of the one it replaced or None, its id)."""
    held = library.infos([to])
    moved, replaced = library.move(doc_id, to)
    return moved.article.title, held[0].title if replaced and held else replaced, moved.id


@router.post("/library/{doc_id}/move", response_class=HTMLResponse)
async def library_move(request: Request, doc_id: str, rt: Runtime = Depends(deps.runtime)):
    """The banner's "Replace “…” with it": the article added beside a namesake takes its id, and the
    namesake is gone."""
    key_sent, to = False, ""
    try:
        form = await read_form(request, rt, max_files=0, max_fields=3)
        key_sent, to = bool(form.get("api_key")), str(form.get("to") or "")
        _check_key(_form_key(form, request), rt)
        if not to:
            raise BadInput("the form did not say which article to replace; add the file again")
        library = await run_in_threadpool(rt.library)
        title, replaced, moved = await run_in_threadpool(_move, library, doc_id, to)
    except (QAError, ApiError) as err:
        words = _error_words(err, what="request" if isinstance(err, FormRefused) else "article", key_sent=key_sent)
        ask_again = err.status in (401, 403) and to  # the same form, to type the key into
        listing = partial(_listing, request, rt, status=err.status, error=words)

        def again() -> Response:
            try:
                infos = rt.library(wait_s=30).infos([doc_id, to])
            except QAError:
                infos = []
            return listing(replace=replacements({doc_id: to}, infos, it=False))

        return await run_in_threadpool(again if ask_again else listing)
    except Exception:
        log.exception("moving %r from the library form failed", doc_id)
        return await run_in_threadpool(partial(_listing, request, rt, status=500, error=plain_error(500)))
    if replaced:
        banner = f"“{title}” replaced “{replaced}”."
    else:
        banner = f"“{title}” is kept; the article it was to replace was no longer in the library."
    return await run_in_threadpool(partial(_listing, request, rt, banner=banner, fresh=[moved]))
