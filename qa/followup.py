"""Follow-up questions without an LLM: a question that leans on the conversation ("Where is he
from?") is searched together with the previous turn, so it lands on the same passage."""

from __future__ import annotations

import re
from typing import Sequence

from qa.models import Turn
from qa.text import terms, tokens

_ANAPHORA = frozenset(
    "he she him his her hers they them their theirs it its this that these those there then "
    "former latter group same".split()
)
_LEADS = re.compile(r"^\s*(and|but|so|also|what about|how about|what else)\b", re.IGNORECASE)
_MARKER = re.compile(r"\s*\[\d+\]")


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def context_for(question: str, history: Sequence[Turn]) -> str:
    """The text of the last exchange when `question` depends on it, else an empty string."""
    if not history:
        return ""
    words = set(tokens(question))
    if not (words & _ANAPHORA or _LEADS.match(question) or len(terms(question)) <= 1):
        return ""
    last_user = next((t.content for t in reversed(history) if t.role == "user"), "")
    last_answer = next((t.content for t in reversed(history) if t.role == "assistant"), "")
    return " ".join(x for x in (last_user, strip_markers(last_answer)) if x)
