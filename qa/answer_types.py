"""What a question asks for (a person, a number, a date, a place) and whether a sentence offers it.

Cheap surface rules, no model: they decide between same-topic sentences, which is exactly where
embeddings and word overlap cannot.
"""

from __future__ import annotations

import re
from enum import Enum


class AnswerType(str, Enum):
    PERSON = "person"
    NUMBER = "number"
    DATE = "date"
    PLACE = "place"


_MONTHS = "january february march april may june july august september october november december"
_DAYS = "monday tuesday wednesday thursday friday saturday sunday"
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds "
    "thousand thousands million millions billion billions trillion dozen dozens half"
)
_PLACES = (
    "afghanistan afghan albania algeria america american americans argentina australia australian austria "
    "bangladesh belgium brazil britain british canada canadian chile china chinese colombia cuba denmark "
    "egypt egyptian england english ethiopia europe european france french germany german greece greek "
    "india indian indonesia iran iranian iraq iraqi ireland irish israel israeli italy italian japan japanese "
    "jordan kenya korea korean kuwait lebanon libya malaysia mexico mexican morocco netherlands dutch nigeria "
    "norway pakistan pakistani palestine palestinian philippines poland polish portugal qatar russia russian "
    "saudi scotland scottish somalia spain spanish sudan sweden swedish switzerland swiss syria syrian "
    "taiwan thailand tunisia turkey turkish uk ukraine ukrainian us usa vietnam wales welsh yemen africa "
    "african asia asian kabul london paris washington moscow beijing baghdad tehran islamabad delhi"
)
_PLACE_WORDS = frozenset(_PLACES.split())
_DATE_RE = re.compile(
    rf"\b(1[0-9]{{3}}|20[0-9]{{2}})s?\b|\b({_MONTHS.replace(' ', '|')}|{_DAYS.replace(' ', '|')})\b|"
    r"\b(yesterday|today|tomorrow|last (year|week|month|decade)|next (year|week|month)|century|decade|"
    r"ago|since|recent years)\b",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(rf"\d|\b({_NUMBER_WORDS.replace(' ', '|')})\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'\u2019-]+")
_PLACE_PREP = re.compile(r"\b(in|at|from|near|to|of|across|into)\s+(the\s+)?[A-Z][\w-]+")

_QUESTION_RULES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(r"\b(how (many|much|long|old|far|large|big|tall|high)|what (number|percentage|proportion|"
                r"amount|size|share))\b"), AnswerType.NUMBER),
    (re.compile(r"\b(when|what (year|date|time|day|month|century|decade|period)|which (year|date|day|"
                r"month|century|decade))\b"), AnswerType.DATE),
    (re.compile(r"\b(where|what (country|city|region|place|town|state|province|continent|nationality)|"
                r"which (country|city|region|place|town|state|province|continent|nationality))\b"), AnswerType.PLACE),
    (re.compile(r"\b(who|whom|whose|which (person|man|woman|leader|official|president|minister)|"
                r"what is the name of|named)\b"), AnswerType.PERSON),
]
# "Who is Jake Sullivan?" asks for a description, not a name.
_WHO_IS_NAME = re.compile(r"^\s*who\s+(is|was|are|were)\s+[A-Z]")


def expected_type(question: str) -> AnswerType | None:
    if _WHO_IS_NAME.match(question):
        return None
    low = question.lower()
    hits = [(m.start(), t) for rule, t in _QUESTION_RULES if (m := rule.search(low))]
    return min(hits)[1] if hits else None


def _new_words(sentence: str, question: str) -> str:
    """The sentence without the words the question already has: the answer must be new."""
    asked = {w.lower() for w in re.findall(r"[\w'\u2019-]+", question)}
    return " ".join(w for w in re.findall(r"[\w'\u2019,.-]+", sentence) if w.lower().strip(",.") not in asked)


def offers(sentence: str, kind: AnswerType, question: str) -> bool:
    rest = _new_words(sentence, question)
    if kind is AnswerType.NUMBER:
        return bool(_NUMBER_RE.search(rest))
    if kind is AnswerType.DATE:
        return bool(_DATE_RE.search(rest))
    if kind is AnswerType.PLACE:
        words = {w.lower().strip(",.") for w in rest.split()}
        return bool(words & _PLACE_WORDS) or bool(_PLACE_PREP.search(rest))
    return bool(_CAPITALISED.search(rest))
