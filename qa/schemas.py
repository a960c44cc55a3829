"""Our pydantic models: the JSON contract. Framework objects are converted to these at the boundary."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

Mode = Literal["extractive", "generative"]
Verify = Literal["strict", "flag"]  # generative answers: drop or flag unsupported sentences
UNVERIFIED = "(unverified)"  # follows a sentence kept under verify=flag, in `Answer.answer`


# The JSON API's limits (server/schemas.py, DocumentIn) hold for every way in: front matter, HTML and
# jsonl too. A declared field over its limit is refused, naming the field and the limit.
FIELD_LIMITS = {"id": 200, "title": 1000, "url": 4096, "published": 200, "author": 1000, "site": 1000, "feed": 200}


def content_hash(title: str, text: str) -> str:
    """Identity of an article's content: the same text under two file names hashes the same."""
    digest = hashlib.sha256((" ".join(title.split()) + "\n").encode("utf-8"))
    # " ".join(text.split()) fed a block at a time: whole, a 4.9 MB text's words took 58 MB at once
    pos, sep = 0, b""
    while pos < len(text):
        end = pos + _HASH_BLOCK
        gap = _SPACE.search(text, end) if end < len(text) else None  # blocks end between words
        end = gap.start() if gap else len(text)
        words = text[pos:end].split()
        if words:
            digest.update(sep + " ".join(words).encode("utf-8"))
            sep = b" "
        pos = end
    return digest.hexdigest()[:32]


_HASH_BLOCK = 1 << 16
_SPACE = re.compile(r"\s")


UPLOADED = "uploaded/"  # an uploaded file's source is this and its name: the name shows, and it is no local path


def uploaded(source: str) -> bool:
    """Sent through the API: an uploaded file, or text pasted (`api`, as before files kept their names)."""
    return source == "api" or source.startswith(UPLOADED)


class Article(BaseModel):
    id: str = Field(description="Stable id, from the file name or the jsonl `id`.")
    title: str
    text: str = Field(description="The article body as indexed; citation offsets point into it.")
    source: str = Field(description="Where it came from: a file path, a link (its canonical URL), `uploaded/<file name>` "
                        "for an uploaded file, or `api` for pasted text.")
    url: str | None = None
    published: str | None = None
    author: str | None = None
    site: str | None = Field(default=None, description="The publication's name, for an article added by its link.")
    feed: str | None = Field(default=None, description="The id of the feed it came from, if any.")
    id_given: bool = Field(
        default=False,
        description="As read: the id was given (front matter `id`, a jsonl record, the API's `id`), not made from a "
        "file name or title. A given id always updates its article; a made one only for an edit (qa.ingest.identity).",
    )

    @property
    def hash(self) -> str:
        return content_hash(self.title, self.text)


class SkippedLine(BaseModel):
    """A jsonl record that was not read; the file's other records were."""

    line: int = Field(description="Line number in the file, counting from 1.")
    reason: str


class Parsed(BaseModel):
    """One file's articles, and the jsonl records skipped as bad."""

    articles: list[Article]
    skipped: list[SkippedLine] = Field(default_factory=list)


class ArticleInfo(BaseModel):
    """An indexed article, as listed by `qa docs list` and the API."""

    id: str
    title: str
    source: str
    url: str | None = None
    published: str | None = None
    author: str | None = None
    site: str | None = None
    feed: str | None = None
    hash: str
    chars: int
    chunks: int
    sentences: int


class Citation(BaseModel):
    id: int = Field(description="The number used in the answer's [n] marker.")
    doc_id: str
    title: str = Field(description="The article's title; a title addressed to AI systems is replaced by a note.")
    source: str
    url: str | None = None
    published: str | None = None
    site: str | None = Field(default=None, description="The publication, for an article added by its link.")
    quote: str = Field(
        description="Exact text of the cited sentence(s): article.text[start:end], with any sentence addressed to "
        "AI systems masked (each character but whitespace replaced by \u2588; the length never changes)."
    )
    start: int
    end: int
    passage: str = Field(
        description="The retrieved chunk the quote came from, article.text[passage_start:passage_end], masked like "
        "`quote`: passage[start - passage_start : end - passage_start] is always the quote."
    )
    passage_start: int
    passage_end: int
    score: float


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class Unsupported(BaseModel):
    text: str = Field(description="A generated sentence its citations do not support.")
    reason: str


class SentenceCheck(BaseModel):
    """One generated sentence, as verified while the answer streams."""

    text: str
    supported: bool
    reason: str | None = None
    shown: str = Field(description="How it appears in the answer, with its citation numbers; empty when dropped.")


class Delta(BaseModel):
    """Text as the model generates it: a draft, not yet verified."""

    text: str


class Verified(BaseModel):
    """Verified answer text; the pieces of one answer join into exactly `Answer.answer`."""

    text: str


class Filters(BaseModel):
    """The articles a question is asked within. Each given field narrows; together they must all hold."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] | None = Field(None, max_length=1000, description="Only these articles.")
    sources: list[str] | None = Field(
        None, max_length=100,
        description="Only articles from these sources: a file path or file name, a site's name or host, a feed's id, "
        "or `uploaded` (case does not matter).",
    )  # fmt: skip
    since: dt.date | None = Field(None, description="Only articles published on or after this day (undated ones are out).")
    until: dt.date | None = Field(None, description="Only articles published on or before this day (undated ones are out).")

    @model_validator(mode="after")
    def _ordered(self) -> "Filters":
        if self.since and self.until and self.since > self.until:
            raise PydanticCustomError("since_after_until", "since is after until: no day is in between")
        return self

    @property
    def empty(self) -> bool:
        return not (self.doc_ids or self.sources or self.since or self.until)


class Scope(BaseModel):
    """The scope an answer was given in."""

    filters: Filters
    articles: int = Field(description="Indexed articles within it when the question was asked.")


class Answer(BaseModel):
    question: str
    answer: str
    abstained: bool
    mode: Mode = "extractive"
    citations: list[Citation] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    resolved_question: str | None = Field(
        default=None, description="The question as searched, when a follow-up was resolved against history."
    )
    warnings: list[str] = Field(default_factory=list)
    verify: Verify | None = Field(
        default=None, description="Generative answers: what happened to unsupported sentences."
    )
    unsupported: list[Unsupported] = Field(
        default_factory=list, description="Generated sentences that failed verification (dropped, or kept as flagged)."
    )
    scope: Scope | None = Field(default=None, description="With filters: the scope the answer was given in.")
    period: str | None = Field(
        default=None, description="The time the question names ('2021', 'before March 2024'), when it chose the articles: "
        "those dated in it, and undated ones, were searched.",
    )  # fmt: skip


class IngestReport(BaseModel):
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    duplicates: dict[str, str] = Field(default_factory=dict, description="id -> id of the stored copy")
    renamed: dict[str, str] = Field(
        default_factory=dict,
        description="new id -> the id its name gave, which another story holds: added beside it, not over it "
        "(send replace=true to replace that one instead)",
    )
    ids: list[str] = Field(default_factory=list, description="the stored id of each article sent, in order")
    deleted: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict, description="path -> reason")
    sentences_embedded: int = 0
    seconds: float = 0.0
