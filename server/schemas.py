"""Request and error bodies of the HTTP API. Answers use qa.schemas.Answer, the library's contract."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from qa.schemas import FIELD_LIMITS, Filters, Mode, Turn, Verify


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(description="The question; 1 to QA_MAX_QUESTION_CHARS characters.")
    history: list[Turn] | None = Field(None, description="Earlier turns, oldest first, for follow-ups.")
    top_k: StrictInt | None = Field(None, ge=1, le=50, description="Passages handed to the answerer.")
    mode: Mode | None = Field(None, description="Default: generative when an LLM is configured, else extractive.")
    verify: Verify | None = Field(None, description="Generative mode: drop (strict) or flag unsupported sentences.")
    filters: Filters | None = Field(None, description="Ask within these articles only (filtered inside retrieval).")


class DocumentIn(BaseModel):
    """An article posted as JSON: its title and text, or `url` alone to fetch it from its link. A file
    upload (multipart, field `file`) is the other way in."""

    model_config = ConfigDict(extra="forbid")

    # the limits every way in shares (front matter, HTML, jsonl), so the schema shows them
    title: StrictStr | None = Field(None, min_length=1, max_length=FIELD_LIMITS["title"], description="Required with `text`.")
    text: StrictStr | None = Field(None, min_length=1, description="Without it, `url` alone: the article is fetched from its link.")
    id: StrictStr | None = Field(None, max_length=FIELD_LIMITS["id"], description="Default: made from the title.")
    url: StrictStr | None = Field(None, max_length=FIELD_LIMITS["url"])
    published: StrictStr | None = Field(None, max_length=FIELD_LIMITS["published"])
    author: StrictStr | None = Field(None, max_length=FIELD_LIMITS["author"])

    @model_validator(mode="after")
    def _text_or_link(self) -> DocumentIn:
        if self.text is None and (self.url is None or self.title or self.id or self.published or self.author):
            raise PydanticCustomError("text_or_url", "send title and text, or url alone to fetch the article from its link")
        if self.text is not None and self.title is None:
            raise PydanticCustomError("missing_title", "title is required with text")
        return self


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str = Field(description="Machine-readable reason, e.g. invalid_api_key, model_not_found, index_unreachable")
    param: str | None = None


class ErrorBody(BaseModel):
    """One error shape everywhere; it is also OpenAI's, so OpenAI clients show the message."""

    error: ErrorDetail


# -- OpenAI-compatible chat completions ----------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: StrictStr
    text: StrictStr | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens ... are accepted and ignored

    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    top_k: StrictInt | None = Field(None, ge=1, le=50)
    mode: Mode | None = None
    verify: Verify | None = None
    stream_options: dict[str, Any] | None = None
    filters: Filters | None = None
