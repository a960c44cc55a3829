"""Follow-up questions without an LLM.

A question that leans on the conversation ("Where is he from?") is rewritten before retrieval: each
pronoun is replaced by what it refers to. "he", "she", "his" and "her" take the person the
conversation is about (a name the last answer brought in, else one an earlier question named); "it",
"its", "they", "that" take what the last question was about (the names it used, else its last noun
phrase). The rewritten question is what is searched and what the answer model reads, so the answer
is to the new question, not a repeat of the last one. Elliptical follow-ups with nothing to replace
("and on US forces?") are searched together with the previous turn.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

from qa.schemas import Turn
from qa.text import strip_markers, terms, tokens

_ANAPHORA = frozenset(
    "he she him his her hers they them their theirs it its this that these those there then "
    "former latter group same".split()
)
_LEADS = re.compile(r"^\s*(and|but|so|also|what about|how about|what else)\b", re.IGNORECASE)
_PERSONAL = {"he": "", "him": "", "she": "", "his": "'s", "her": "'s", "hers": "'s"}
_THING = {"it": "", "its": "'s", "they": "", "them": "", "their": "'s"}
_DEMONSTRATIVE = frozenset({"that", "this", "there"})
_CAP = 2000  # characters of any one turn the rewriter reads: history turns may be far longer than a question
_NOT_NOUNS = frozenset("to about for from with in on at and or that the a an is was".split())  # "her" not possessive
_EXPLETIVE = frozenset("true possible likely clear known said reported raining worth important necessary".split())
# A run of capitalised words; "al-", "bin", "de" and the like may sit inside a name.
_NAME = re.compile(r"\b(?:[A-Z][\w\u2019'.-]*[\w]|[A-Z])(?:\s+(?:(?:al|el|bin|ibn|de|da|van|von|der|la|of|the)[- ])?[A-Z][\w\u2019'.-]*\w)*")
_NOT_NAMES = frozenset(
    "I A An The What Which Who Whom Whose When Where Why How Is Are Was Were Did Do Does Has Have Had Can Could "
    "Will Would Should And But So Also Or If In On At By For From To Of With Apart Some Over Under According "
    "He She It They We You His Her Its Their This That These Those There Then Previous Every One Source "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
)
_TITLES = frozenset(
    "President Minister Secretary Adviser Advisor Chancellor Governor Senator General Gen Colonel Col Captain "
    "Mr Mrs Ms Dr Prof Sir Lord Lady King Queen Prince Princess Pope Chief Director Judge Mayor Ambassador "
    "Spokesman Spokeswoman Commander Leader Armed Forces Defence Defense Foreign Prime Vice Deputy State Home".split()
)
_ORG_WORDS = frozenset(
    "News Nations Forces State Group Party Council Ministry Army Police University Agency Times Post Office "
    "Department Organisation Organization Union Company Bank Airport Hospital Court Republic Kingdom States".split()
)
_NOUN_PHRASE = re.compile(
    r"\b(?:the|a|an|this|that)\s+((?:[\w-]+\s+){0,3}?[\w-]+?)(?:\s+(?:to|from|for|with|about|of|in|on|at|by))?\s*(?:\?\s*)?$",
    re.IGNORECASE,
)



def _names(text: str) -> list[str]:
    out = []
    for m in _NAME.finditer(text):
        words = [re.sub(r"['\u2019]s$", "", w) for w in m.group().split()]
        words = [w for w in words if re.split(r"['\u2019]", w.strip("."))[0] not in _NOT_NAMES]
        while words and words[0].islower():  # "the" left over from "Have the Taliban"
            words = words[1:]
        name = " ".join(words)
        if len(name) > 1 and name not in out:
            out.append(name)
    return [n for n in out if not any(n != o and n in o for o in out)]


def _person(name: str) -> str | None:
    """The personal name in "US President Joe Biden", or None when `name` is no person's."""
    words = name.split()
    while words and (words[0] in _TITLES or words[0].isupper()):
        words = words[1:]
    if len(words) < 2 or any(w in _ORG_WORDS or w.isupper() for w in words):
        return None
    return " ".join(words)


class Resolved(NamedTuple):
    question: str  # the question with its references replaced; the question itself if none
    context: str  # earlier text to search with, for follow-ups that name nothing to replace


def _last(history: Sequence[Turn], role: str) -> str:
    return next((t.content for t in reversed(history) if t.role == role), "")


def depends_on_history(question: str) -> bool:
    words = set(tokens(question))
    return bool(words & _ANAPHORA or _LEADS.match(question) or len(terms(question)) <= 1)


def _standalone(history: Sequence[Turn]) -> list[str]:
    """Every user question of `history`, each resolved once against the turns before it."""
    questions: list[str] = []
    seen: list[Turn] = []
    for t in history:
        if t.role == "user":
            q = t.content[:_CAP]
            questions.append(_resolve(q, seen, questions).question if seen else q)
        seen.append(t)
    return questions


def _referents(history: Sequence[Turn], questions: Sequence[str]) -> tuple[str | None, list[str], str | None]:
    """(the person the conversation is about, the names the last question used, its last noun phrase);
    `questions` are the user turns of `history`, already resolved."""
    last_q = questions[-1] if questions else ""
    last_a = strip_markers(_last(history, "assistant")[:_CAP])
    asked = _names(last_q)
    # Whom the last question named, else whom its answer brought in, else whom an earlier question named.
    order = asked + [n for n in _names(last_a) if n not in asked] + [n for q in reversed(questions[:-1]) for n in _names(q)]
    person = next((p for p in map(_person, order) if p), None)
    things: list[str] = []
    for q in reversed(questions):  # the names of the latest question that has any
        things = [n for n in _names(q) if _person(n) is None and n != person]
        if things:
            break
    phrase = _NOUN_PHRASE.search(last_q)
    return person, things, (f"the {phrase.group(1)}" if phrase else None)


def resolve(question: str, history: Sequence[Turn]) -> Resolved:
    """`question` made standalone where its references can be found in `history`."""
    return _resolve(question, history, _standalone(history) if history else [])


def _resolve(question: str, history: Sequence[Turn], questions: Sequence[str]) -> Resolved:
    if not history or not depends_on_history(question):
        return Resolved(question, "")
    person, things, phrase = _referents(history, questions)
    present = set(_names(question))
    things = [t for t in things if t not in present]
    thing = " and ".join(things) if things else phrase
    replaced = False

    def swap(m: re.Match[str]) -> str:
        nonlocal replaced
        word, low = m.group(), m.group().lower()
        nxt = _next_word(question, m)
        if low in _PERSONAL and person and person not in present:
            replaced = True
            possessive = _PERSONAL[low] if low != "her" or (nxt and nxt not in _NOT_NOUNS) else ""
            return person + possessive
        if low in _THING and thing and not (low == "it" and nxt in _EXPLETIVE):
            replaced = True
            return thing + _THING[low]
        if low in _DEMONSTRATIVE and thing and not replaced and _stands_alone(question, m):
            replaced = True
            return f"in {thing}" if low == "there" else thing
        return word

    rewritten = re.sub(r"\b[A-Za-z]+\b", swap, question)
    if replaced:
        return Resolved(rewritten[: 2 * _CAP], "")
    last_user = _last(history, "user")[:_CAP]
    last_answer = strip_markers(_last(history, "assistant")[:_CAP])
    return Resolved(question, " ".join(x for x in (last_user, last_answer) if x))


def _next_word(question: str, m: re.Match[str]) -> str:
    nxt = re.match(r"\s*([A-Za-z]+)", question[m.end() :])
    return nxt.group(1).lower() if nxt else ""


def _stands_alone(question: str, m: re.Match[str]) -> bool:
    """"that" as a pronoun ("When did that happen?"), not a determiner ("that job") or a conjunction."""
    after = question[m.end() :].lstrip()
    nxt = re.match(r"[A-Za-z]+", after)
    return not nxt or nxt.group().lower() in {"happen", "happened", "is", "was", "be", "been", "take", "took", "mean", "located", "called"}
