"""What a question asks for (a person, a number, a date, a place) and whether a sentence offers it.

Cheap surface rules, no model: they decide between same-topic sentences, which is exactly where
embeddings and word overlap cannot.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Container


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
    rf"\b(1[0-9]{{3}}|20[0-9]{{2}})s?\b|\b[0-9]{{1,2}}(st|nd|rd|th)\b|\b({_MONTHS.replace(' ', '|')}|{_DAYS.replace(' ', '|')})\b|"
    r"\b(yesterday|today|tomorrow|last (year|week|month|decade)|next (year|week|month)|century|decade|"
    r"ago|recent years)\b",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(rf"\d|\b({_NUMBER_WORDS.replace(' ', '|')})\b", re.IGNORECASE)
_PLACE_PREP = re.compile(r"\b(in|at|from|near|to|of|across|into)\s+(the\s+)?[A-Z][\w-]+")

_ROLES = (
    "person|man|woman|leader|official|president|minister|actor|actress|director|singer|player|winner|author|"
    "writer|ceo|founder|coach|captain|chairman|host|artist|scientist|king|queen|politician|candidate"
)
_QUESTION_RULES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(r"\b(how (many|much|long|old|far|large|big|tall|high)|what (number|percentage|proportion|"
                r"amount|size|share))\b"), AnswerType.NUMBER),
    (re.compile(r"\b(when|what (year|date|time|day|month|century|decade|period)|which (year|date|day|"
                r"month|century|decade)|(release|premiere|launch|opening|air|start|end) date|date of)\b"), AnswerType.DATE),
    (re.compile(r"\b(where|what (country|city|region|place|town|state|province|continent|nationality)|"
                r"which (country|city|region|place|town|state|province|continent|nationality))\b"), AnswerType.PLACE),
    (re.compile(rf"\b(who|whom|whose|(which|what) ({_ROLES})|what is the name of|named)\b"), AnswerType.PERSON),
]
# "Who is Jake Sullivan?" asks for a description, not a name.
_WHO_IS_NAME = re.compile(r"^\s*who\s+(is|was|are|were)\s+[A-Z]")


# "When B cells replicate, what do they become?": the asking clause is the one after the comma.
_LEADING_CLAUSE = re.compile(r"^\s*(when|if|while|after|before|since|as|once)\b[^,]*,\s*(?=(what|which|who|whom|whose|how|where|when)\b)", re.I)
# "when" asks for a time only as the question word, not inside it ("what happens when ...").
_WHEN_INSIDE = re.compile(r"(?<!^)(?<!^and )(?<!^so )(?<!^but )\bwhen\b")
# Types a sentence either shows or not; places and people are fuzzier ("Where does the force go?").
STRICT = frozenset({AnswerType.NUMBER, AnswerType.DATE})


def expected_type(question: str) -> AnswerType | None:
    question = _LEADING_CLAUSE.sub("", question)
    if _WHO_IS_NAME.match(question):
        return None
    low = _WHEN_INSIDE.sub("", question.strip().lower())
    hits = [(m.start(), t) for rule, t in _QUESTION_RULES if (m := rule.search(low))]
    return min(hits)[1] if hits else None


def _new_words(sentence: str, question: str) -> str:
    """The sentence without the words the question already has: the answer must be new."""
    asked = {w.lower() for w in re.findall(r"[\w'\u2019-]+", question)}
    return " ".join(w for w in re.findall(r"[\w'\u2019,.-]+", sentence) if w.lower().strip(",.") not in asked)


def offers(sentence: str, kind: AnswerType, question: str, common: Container[str] = frozenset()) -> bool:
    rest = _new_words(sentence, question)
    if kind is AnswerType.NUMBER:
        return bool(_NUMBER_RE.search(rest))
    if kind is AnswerType.DATE:
        return bool(_DATE_RE.search(rest))
    if kind is AnswerType.PLACE:
        words = {w.lower().strip(",.") for w in rest.split()}
        return bool(words & _PLACE_WORDS) or bool(_PLACE_PREP.search(rest))
    return _has_name(rest, common)


_NOT_NAMES = _PLACE_WORDS | frozenset(f"{_MONTHS} {_DAYS} the a an in on at of for and but it this that these "
                                      "he she they we i his her their its new".split())
_CAPITAL_RUN = re.compile(r"[A-Z][\w'\u2019.-]*(?:\s+(?:(?:al|el|de|da|di|van|von|bin|ibn|le|la)[- ]?)?[A-Z][\w'\u2019.-]*)*")


def _has_name(text: str, common: Container[str] = frozenset()) -> bool:
    """A name: a capitalised word that is not a country, month or acronym ("US", "Afghan", "April"),
    past the first word, or two capitalised words running together anywhere ("Hideki Matsuyama")."""
    for m in _CAPITAL_RUN.finditer(text):
        words = [w for w in re.split(r"[\s-]+", m.group()) if w[:1].isupper()]
        named = [w for w in words if _name_like(w, common)]
        if named and (len(words) >= 2 or m.start() > 0):
            return True
    return False


_FULL_DATE = re.compile(
    rf"\b(?:{_MONTHS.replace(' ', '|')}|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.? \d{{1,2}}(?:st|nd|rd|th)?\b"
    r"|\b\d{1,2} (?:" + _MONTHS.replace(" ", "|") + r")\b|\b(?:1[5-9]|20)\d\d\b",
    re.IGNORECASE,
)
_AMOUNT = re.compile(r"[$\u00a3\u20ac]?\d[\d,.]*(?:\s?(?:%|percent|million|billion|thousand))?")


def _name_like(word: str, common: Container[str]) -> bool:
    low = word.lower().strip(".,'\u2019")
    return low not in _NOT_NAMES and low not in common and not word.isupper()


def candidates(sentence: str, kind: AnswerType | None, question: str, common: Container[str] = frozenset()) -> set[str]:
    """The answers a sentence puts forward for this kind of question (names, dates or amounts the
    question does not already contain), lowercased, so other passages can be checked for them."""
    asked = question.lower()
    found: set[str] = set()
    if kind in (None, AnswerType.PERSON, AnswerType.PLACE):
        for m in _CAPITAL_RUN.finditer(sentence):
            words = [w for w in m.group().split() if _name_like(w, common) or w.isupper()]
            if len(words) >= 2:  # headlines run names into other capitalised words: take pairs
                found.update(f"{a} {b}" for a, b in zip(words, words[1:]))
            elif words and m.start() > 0:
                found.add(words[0])
    if kind in (None, AnswerType.DATE):
        found.update(m.group() for m in _FULL_DATE.finditer(sentence))
    if kind in (None, AnswerType.NUMBER):
        found.update(m.group() for m in _AMOUNT.finditer(sentence))
    return {c.lower() for c in found if len(c) > 1 and c.lower() not in asked}
