"""The gold suite: hand-written questions over corpus/, with the answers and article they need.

A case is one question or a conversation; each turn of a conversation is scored on its own, asked
with the answers the service itself gave to the earlier turns.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, model_validator

from evals.files import read_text
from qa.errors import BadInput
from qa.schemas import Filters

GOLD_FILE = Path(__file__).resolve().parent / "gold.json"
CORPUS_DIR = GOLD_FILE.parent.parent / "corpus"  # the articles the suite asks about


class GoldTurn(BaseModel):
    question: str = Field(min_length=1)
    answers: list[str] = []
    unanswerable: bool = False

    @model_validator(mode="after")
    def _answers_or_unanswerable(self) -> "GoldTurn":
        if self.unanswerable == bool(self.answers):
            raise ValueError(f"{self.question!r}: give answers, or mark it unanswerable, not both")
        return self


class GoldCase(BaseModel):
    id: str
    doc_id: str | None = None
    tags: list[str] = []
    filters: Filters | None = None  # every turn is asked within these articles
    turns: list[GoldTurn]

    @model_validator(mode="before")
    @classmethod
    def _single_question(cls, data: dict) -> dict:
        """A single question is written flat; it is a conversation of one turn."""
        if isinstance(data, dict) and "question" in data:
            keys = ("question", "answers", "unanswerable")
            turn = {k: v for k, v in data.items() if k in keys}
            data = {k: v for k, v in data.items() if k not in keys} | {"turns": [turn]}
        return data

    @model_validator(mode="after")
    def _cited_from(self) -> "GoldCase":
        if self.doc_id is None and any(t.answers for t in self.turns):
            raise ValueError(f"{self.id}: answerable turns need the doc_id they must be cited from")
        return self


class GoldSuite(BaseModel):
    about: str = ""
    name: str = Field("gold", pattern=r"^[a-z0-9-]+$")  # the run's name: its collection, report and floors
    today: dt.date | None = None  # what "last year" counts from; a dated suite pins it so it never drifts
    corpus: list[str] = []  # its articles: folders relative to the suite's file (default: the configured corpus)
    cases: list[GoldCase]

    @model_validator(mode="after")
    def _unique_ids(self) -> "GoldSuite":
        ids = [c.id for c in self.cases]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"duplicate case ids: {', '.join(dupes)}")
        return self


def load(path: Path = GOLD_FILE) -> GoldSuite:
    """The suite in `path`; a file that is missing, unreadable or not a suite is one BadInput line."""
    text = read_text(path, "gold suite")
    try:
        return GoldSuite.model_validate(json.loads(text))
    except json.JSONDecodeError as err:
        raise BadInput(f"gold suite {path} is not valid JSON: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the file"
        raise BadInput(f"gold suite {path}: {where}: {first['msg']}") from None
