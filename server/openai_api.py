"""OpenAI-compatible chat completions, so any OpenAI client or chat UI can use the corpus as a model.

The last user message is the question and the earlier user/assistant messages are the history.
Citations travel as [n] markers in the text and as an extra `citations` field (on the completion,
and on the first and last chunk of a stream).
"""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from qa.config import Settings
from qa.models.embedding import count_tokens
from qa.engine import QAEngine
from qa.schemas import Turn
from qa.text import check_text
from server import answering, deps
from server.errors import ApiError
from server.schemas import ChatCompletionRequest, ErrorBody

router = APIRouter(
    prefix="/v1",
    tags=["OpenAI-compatible"],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)

OWNER = "news-qa"


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = OWNER


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


@router.get(
    "/models", response_model=ModelList, dependencies=[Depends(deps.require_read)], summary="The one model: this corpus"
)
async def models(s: Settings = Depends(deps.settings)) -> ModelList:
    return ModelList(data=[ModelCard(id=s.server.model_id)])


def _conversation(req: ChatCompletionRequest) -> tuple[object, list[Turn]]:
    for i, m in enumerate(req.messages):  # every message, though only user/assistant ones are used
        check_text(m.text(), f"messages.{i}.content")
    talk = [
        m for m in req.messages if m.role in ("user", "assistant")
    ]  # the client's system prompt does not steer ours: the answer must stay grounded
    if not talk or talk[-1].role != "user":
        raise ApiError(
            400, "the last user/assistant message must be from the user: it is the question", param="messages"
        )
    try:
        history = [Turn(role=m.role, content=m.text()) for m in talk[:-1]]
    except ValidationError as err:
        raise ApiError(
            422, f"messages: an earlier message is too long ({err.errors()[0]['msg']})", param="messages"
        ) from err
    return talk[-1].text(), history


def _usage(req: ChatCompletionRequest, answer: str) -> dict:
    """Tokens of every message the client sent and of the answer, by the WordPiece tokenizer we ship
    (an extractive answer has no LLM to count them; a generative one is counted the same way)."""
    prompt, completion = count_tokens([m.text() for m in req.messages]), count_tokens([answer])
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@router.post(
    "/chat/completions",
    dependencies=[Depends(deps.require_read), Depends(deps.json_body)],
    summary="Chat completion, streamed or not",
)
async def chat_completions(
    req: ChatCompletionRequest, engine: QAEngine = Depends(deps.engine), s: Settings = Depends(deps.settings)
):
    if req.model != s.server.model_id:
        raise ApiError(
            404, f"the model {req.model!r} does not exist; this server has {s.server.model_id!r}", param="model",
            code="model_not_found",
        )
    question, history = _conversation(req)
    q = await answering.checked(engine, s, question, history, req.top_k, req.mode, req.verify, req.filters)
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    base = {"id": cid, "created": created, "model": s.server.model_id}
    if not req.stream:
        answer = await answering.ask(engine, q)
        return {
            **base, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop"}],
            "usage": _usage(req, answer.answer), "citations": [c.model_dump() for c in answer.citations], "answer": answer.model_dump(mode="json"),
        }  # fmt: skip

    include_usage = bool((req.stream_options or {}).get("include_usage"))

    def chunk(delta: dict | None, finish: str | None = None, **extra) -> str:
        """One stream chunk; without a delta it is the usage-only chunk, whose `choices` is empty."""
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return answering.sse(None, {**base, "object": "chat.completion.chunk", "choices": choices, **extra})

    # A generative draft is never sent to OpenAI clients, which would show it as the answer: they get
    # the verified text, sentence by sentence, and it joins into exactly the final answer.
    text_event = "verified" if q.mode == "generative" else "delta"

    async def stream():
        if q.mode == "generative":
            yield chunk({"role": "assistant", "content": ""})
        async for event, data in answering.events(engine, q):
            if event == "citations":
                yield chunk({"role": "assistant", "content": ""}, citations=data["citations"])
            elif event == text_event:
                yield chunk({"content": data["text"]})
            elif event == "done":
                yield chunk({}, "stop", citations=data["citations"], answer=data)
                if include_usage:
                    yield chunk(None, usage=_usage(req, data["answer"]))
            elif event == "error":  # OpenAI clients raise on a chunk that carries `error`
                yield answering.sse(None, data)
        yield answering.sse(None, "[DONE]")

    return StreamingResponse(stream(), media_type="text/event-stream", headers=answering.SSE_HEADERS)
