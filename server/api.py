"""JSON and streaming API: questions (`/api/ask`, `/api/chat/stream`) and documents."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from qa.config import Settings
from qa.engine import QAEngine
from qa.library import Library
from qa.schemas import FIELD_LIMITS, Answer, Article, ArticleInfo, IngestReport, Parsed, SkippedLine
from qa.text import check_text
from server import answering, deps
from server.errors import ApiError, describe
from server.schemas import AskRequest, DocumentIn, ErrorBody

router = APIRouter(
    prefix="/api",
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        422: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)


class Added(BaseModel):
    report: IngestReport
    documents: list[ArticleInfo]
    skipped: list[SkippedLine] = Field(
        default_factory=list,
        description="jsonl uploads: records not indexed, each with its line number and the reason; the file's "
        "other records were indexed. A file with no good record is refused (400) instead.",
    )


class Deleted(BaseModel):
    deleted: str


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: StrictStr = Field(min_length=1, max_length=FIELD_LIMITS["id"], description="The id the article takes.")


class Moved(BaseModel):
    document: ArticleInfo
    replaced: str | None = Field(None, description="The article that held the id before, now gone.")


class Document(BaseModel):
    info: ArticleInfo
    article: Article


@router.post(
    "/ask",
    response_model=Answer,
    dependencies=[Depends(deps.require_read), Depends(deps.json_body)],
    summary="Answer a question",
)
async def ask(req: AskRequest, engine: QAEngine = Depends(deps.engine), s: Settings = Depends(deps.settings)) -> Answer:
    q = await answering.checked(engine, s, req.question, req.history, req.top_k, req.mode, req.verify, req.filters)
    return await answering.ask(engine, q)


@router.post(
    "/chat/stream", dependencies=[Depends(deps.require_read), Depends(deps.json_body)], summary="Answer a question as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Extractive: `citations`, then `delta` events, "
               "then `done` with the answer JSON. Generative: `delta` events of the LLM's draft, a `sentence` event per "
               "verified sentence, `verified` pieces of the checked answer, then `done` with the verified answer. A failure "
               "after the stream started arrives as an `error` event."}},
)  # fmt: skip
async def chat_stream(
    req: AskRequest, engine: QAEngine = Depends(deps.engine), s: Settings = Depends(deps.settings)
) -> StreamingResponse:
    q = await answering.checked(engine, s, req.question, req.history, req.top_k, req.mode, req.verify, req.filters)

    async def stream():
        async for event, data in answering.events(engine, q):
            yield answering.sse(event, data)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=answering.SSE_HEADERS)


@router.get(
    "/documents", response_model=list[ArticleInfo], dependencies=[Depends(deps.require_read)], summary="List articles"
)
async def documents(library: Library = Depends(deps.library)) -> list[ArticleInfo]:
    return await run_in_threadpool(library.documents)


@router.get(
    "/documents/{doc_id}",
    response_model=Document,
    dependencies=[Depends(deps.require_read)],
    summary="One article with its text (a sentence addressed to AI systems masked, offsets unchanged)",
)
async def document(doc_id: str, library: Library = Depends(deps.library)) -> Document:
    stored = await run_in_threadpool(library.shown, doc_id)
    return Document(info=stored.info(), article=stored.article)


_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": ".txt .md .html .jsonl (UTF-8), .pdf or .docx"}
                    },
                },  # fmt: skip
            },
        },
    }
}


def _check_strings(data: object) -> None:
    """Every text field through the one validator, before pydantic: with a max_length it refuses a lone
    surrogate itself, as a 422 that does not say what is wrong."""
    for field, value in data.items() if isinstance(data, dict) else ():
        if isinstance(field, str) and isinstance(value, str):
            check_text(value, field)


async def parsed_upload(upload: UploadFile, library: Library, limit: int) -> Parsed:
    """An uploaded file's articles: read to one byte past `limit` (so a larger file is refused, not
    cut), parsed off the event loop. The API and the library page both add files this way."""
    data = await upload.read(limit + 1)
    return await run_in_threadpool(library.parse_upload, upload.filename or "", data)


async def _parsed(request: Request, s: Settings, library: Library) -> Parsed:
    kind = deps.media_type(request)
    limit = s.ingest.max_file_bytes
    if deps.is_json(kind):
        try:
            data = json.loads(await request.body())
        except json.JSONDecodeError as err:
            raise ApiError(400, f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
        except (ValueError, RecursionError) as err:  # bytes that are not UTF-8, nesting too deep to parse
            raise ApiError(400, "malformed JSON: not UTF-8, or nested too deeply") from err
        _check_strings(data)
        try:
            doc = DocumentIn.model_validate(data)
        except ValidationError as err:  # worded as FastAPI's own validation errors are
            status, message, param = describe(RequestValidationError(err.errors()))
            raise ApiError(status, message, param=param) from err
        if doc.text is None:  # a link: fetched and extracted off the event loop
            return Parsed(articles=[await run_in_threadpool(library.fetch, doc.url)])
        article = library.new_article(title=doc.title, text=doc.text, doc_id=doc.id, url=doc.url,
                                      published=doc.published, author=doc.author)  # fmt: skip
        return Parsed(articles=[article])
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "file is required: send the article as the multipart field `file`", param="file")
        return await parsed_upload(upload, library, limit)
    raise ApiError(415, f"unsupported media type {kind or '(none)'!r}: send application/json or multipart/form-data")


@router.post(
    "/documents", response_model=Added, status_code=201, dependencies=[Depends(deps.require_write)],
    summary="Add or update articles (JSON with title and text, JSON with `url` alone to fetch it by its link, or a file "
            "upload); indexed before the response",
    openapi_extra=_UPLOAD_DOC, responses={413: {"model": ErrorBody}, 415: {"model": ErrorBody}, 507: {"model": ErrorBody}},
)  # fmt: skip
async def add_document(
    request: Request, response: Response, library: Library = Depends(deps.library), s: Settings = Depends(deps.settings),
    replace: bool = Query(False, description="an article named like a stored one of another story replaces it "
                          "(default: it is added beside it under a numbered id; see `report.renamed`)"),
) -> Added:  # fmt: skip
    parsed = await _parsed(request, s, library)  # InvalidText is a 400 naming its field (server/errors.py)
    report = await run_in_threadpool(lambda: library.add(parsed.articles, replace=replace))
    if not report.added:
        response.status_code = 200  # nothing new: updated, unchanged or a duplicate
    documents = library.infos(report.ids)
    return Added(report=report, documents=documents, skipped=parsed.skipped)


@router.delete("/documents/{doc_id}", response_model=Deleted, dependencies=[Depends(deps.require_write)],
               summary="Delete an article", responses={404: {"model": ErrorBody}, 507: {"model": ErrorBody}})  # fmt: skip
async def delete_document(doc_id: str, library: Library = Depends(deps.library)) -> Deleted:
    await run_in_threadpool(library.delete, doc_id)
    return Deleted(deleted=doc_id)


@router.post("/documents/{doc_id}/move", response_model=Moved,
             dependencies=[Depends(deps.require_write), Depends(deps.json_body)],
             summary="Give an article another id, replacing the article that holds it (after an upload was "
                     "added beside a story with the same name: `report.renamed`)",
             responses={404: {"model": ErrorBody}, 507: {"model": ErrorBody}})  # fmt: skip
async def move_document(doc_id: str, body: MoveIn, library: Library = Depends(deps.library)) -> Moved:
    moved, replaced = await run_in_threadpool(library.move, doc_id, body.to)
    return Moved(document=moved.info(), replaced=replaced)
