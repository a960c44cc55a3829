"""One check for all text from outside (questions, history, chat messages, article fields)."""

from __future__ import annotations

import re

from qa.errors import BadInput

# A lone surrogate cannot be encoded to UTF-8, so it would fail deep inside the tokenizer or the store.
MAX_NESTING = 64  # JSON bodies, jsonl records and front matter: real ones nest a few levels at most

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
# Control characters are C0 (but tab, newline and CR), DEL and C1 alike: U+0085 and U+009B mean as
# little in an article as U+001B does, and a terminal or a log reads some of them as commands.
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_INVALID_TEXT = re.compile(f"[{_CONTROLS}\ud800-\udfff{_NONCHARACTERS}]")


class InvalidText(BadInput):
    """A field's text refused (by `check_text`, or as too long); `field` names the field."""

    code = "invalid_text"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _describe(ch: str) -> str:
    cp = ord(ch)
    if 0xD800 <= cp <= 0xDFFF:
        return f"an unpaired surrogate (U+{cp:04X})"
    if cp < 0x20 or 0x7F <= cp <= 0x9F:  # C0, DEL, C1
        return f"a {'NUL' if cp == 0 else 'control'} character (U+{cp:04X})"
    return f"a Unicode noncharacter (U+{cp:04X})"


def check_text(value: str, field: str) -> str:
    """`value` unchanged, or InvalidText naming `field`, the character and where it is. Refused: control
    characters (C0 other than tab, newline and CR; DEL; C1); unpaired surrogates; noncharacters."""
    bad = _INVALID_TEXT.search(value)
    if bad is not None:
        raise InvalidText(f"{field} contains {_describe(bad.group())} at character {bad.start() + 1}; "
                          "send valid Unicode text", field)  # fmt: skip
    return value


# an unterminated string runs to the end: without `\Z` the engine rescans from every escaped quote
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)


def json_too_deep(text: bytes | str, limit: int = MAX_NESTING) -> bool:
    """Whether [ and { nest deeper than `limit` outside the strings of a JSON text: checked before
    json.loads, which recurses once per level. It measures; it does not validate."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # every real request and record: no scan needed
    import numpy as np

    structure = np.frombuffer(_JSON_STRING.sub(b"", data), np.uint8)
    steps = np.zeros(256, np.int8)
    steps[list(b"[{")], steps[list(b"]}")] = 1, -1
    return bool(structure.size) and int(np.cumsum(steps[structure], dtype=np.int64).max()) > limit


def check_question(question: object, max_chars: int) -> str:
    """The one check of a question (CLI, API, page), needing nothing loaded: its text, stripped, or BadInput."""
    if not isinstance(question, str):
        raise BadInput("the question must be a string")
    q = question.strip()
    if not q:
        raise BadInput("the question is empty")
    if len(q) > max_chars:
        raise BadInput(f"the question is too long ({len(q)} characters; the limit is {max_chars})")
    return check_text(q, "question")
