"""The library without JavaScript: `/library` lists the articles and adds one (pasted, a file or a link),
`/library/{id}` shows one, `/library/{id}/delete` asks before it deletes, `/library/{id}/move` replaces."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from functools import partial
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from qa.errors import BadInput, QAError
from qa.library import Library
from qa.schemas import ArticleInfo, IngestReport, Parsed
from server import deps
from server.api import parsed_upload
from server.errors import ApiError
from server.forms import FormRefused, check_key, form_key, read_form
from server.runtime import Runtime
from server.pages import CSP, page_context, templates, upload_limit
from server.wording import error_words, plain_error, plural, safe_url


log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def _library_page(request: Request, rt: Runtime, view: str, *, status: int = 200, **context) -> Response:
    context = {**page_context(rt), "view": view, "banner": None, "error": None, "form": {}, "replace": [], **context}
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
        return _library_page(request, rt, "list", status=err.status, docs=[], error=error_words(err, what="library"))
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
        check_key(form_key(form, request), rt)
        library = await run_in_threadpool(rt.library)
        parsed = await _parsed_form(form, library, rt)
        report = await run_in_threadpool(library.add, parsed.articles)
    except (QAError, ApiError) as err:
        words = error_words(err, what=what, key_sent=bool(fields.get("api_key")), limit=upload_limit(rt))
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
        words = error_words(err, what="article")
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
        check_key(form_key(form, request), rt)
        library = await run_in_threadpool(rt.library)
        title = (await run_in_threadpool(library.document, doc_id)).article.title
        await run_in_threadpool(library.delete, doc_id)
    except (QAError, ApiError) as err:
        words = error_words(err, what="request" if isinstance(err, FormRefused) else "article", key_sent=key_sent)
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
        check_key(form_key(form, request), rt)
        if not to:
            raise BadInput("the form did not say which article to replace; add the file again")
        library = await run_in_threadpool(rt.library)
        title, replaced, moved = await run_in_threadpool(_move, library, doc_id, to)
    except (QAError, ApiError) as err:
        words = error_words(err, what="request" if isinstance(err, FormRefused) else "article", key_sent=key_sent)
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
