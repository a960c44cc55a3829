"""Sentence spans and chunk spans. Everything keeps character offsets into the article text, so a citation
can point at the exact span."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt gen col lt sgt capt cmdr adm gov sen rep rev hon pres inc ltd co corp "
    "vs etc no nos vol fig approx est dept univ jan feb mar apr jun jul aug sep sept oct nov dec "
    "u.s u.k u.n e.g i.e a.m p.m d.c".split()
)
# End punctuation, then any closing quotes or brackets, then whitespace.
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_OPENERS = "\"'\u201c\u2018([-\u2013\u2014"
_CLOSERS = "\"'\u201d\u2019) "
_LAST_WORD = 40  # characters looked back for the word before a full stop: longer than any abbreviation
MAX_SENTENCE_CHARS = 600  # a run of text without sentence ends is cut into passages this long (at words)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    chunk: int


@dataclass(frozen=True)
class Layout:
    """How an article is cut: chunks (start, end) and sentences, each sentence in exactly one chunk."""

    chunks: tuple[tuple[int, int], ...]
    sentences: tuple[Sentence, ...]


def _paragraphs(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _is_boundary(text: str, match: re.Match[str], start: int, end: int) -> bool:
    rest = match.end()
    while rest < end and text[rest].isspace():
        rest += 1
    nxt = text[rest] if rest < end else ""
    if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
        return False
    if text[match.start()] != ".":
        return True
    # the last word only: slicing from the sentence start made a long run of "Mr. X" quadratic
    word = text[max(start, match.start() - _LAST_WORD) : match.start()].rsplit(None, 1)[-1].lstrip(_OPENERS).lower()
    # An initial ("J.") or a known abbreviation does not end a sentence.
    return not (len(word) == 1 and word.isalpha()) and word not in _ABBREVIATIONS


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _bounded(text: str, start: int, end: int, max_chars: int | None) -> list[tuple[int, int]]:
    """(start, end) trimmed; longer than `max_chars`, cut into pieces of at most that many characters,
    each ending before the last whitespace that fits (a word longer than that is cut inside)."""
    start, end = _trim(text, start, end)
    if max_chars is None or end - start <= max_chars:
        return [(start, end)] if end > start else []
    out = []
    while end - start > max_chars:
        limit = start + max_chars
        cut = -1
        for m in _WHITESPACE.finditer(text, start + 1, limit + 1):  # the last run of whitespace that fits
            cut = m.start()
        piece_end, next_start = (cut, cut) if cut > start else (limit, limit)
        out.append(_trim(text, start, piece_end))
        start, end = _trim(text, next_start, end)
    if end > start:
        out.append((start, end))
    return [p for p in out if p[1] > p[0]]


def sentence_spans(text: str, *, max_chars: int | None = None) -> list[tuple[int, int]]:
    """Sentences as (start, end) offsets; paragraph breaks always end a sentence. With `max_chars`, a
    sentence longer than that (a run of text without sentence ends) is cut at words into passages of at
    most `max_chars`, so that each is embedded whole and quoted as it stands: `text[start:end]`."""
    spans: list[tuple[int, int]] = []
    for p_start, p_end in _paragraphs(text):
        start = p_start
        for m in _END.finditer(text, p_start, p_end):
            if _is_boundary(text, m, start, p_end):
                spans += _bounded(text, start, m.end(), max_chars)
                start = m.end()
        if start < p_end and not text[start:p_end].isspace():
            spans += _bounded(text, start, p_end, max_chars)
    return spans


def is_question(sentence: str) -> bool:
    """An article asking a question answers none and supports no claim."""
    return sentence.rstrip(_CLOSERS).endswith("?")


def is_heading(sentence: str) -> bool:
    """A short line with no closing punctuation is a headline or page furniture, not a statement."""
    return not sentence.rstrip(_CLOSERS).endswith((".", "!", "?", ":", ";")) and len(sentence.split()) <= 12


def layout(text: str, *, chunk_chars: int, max_sentence_chars: int = MAX_SENTENCE_CHARS) -> Layout:
    """Pack whole sentences (none longer than `max_sentence_chars`) into chunks of about `chunk_chars`,
    preferring paragraph breaks."""
    spans = sentence_spans(text, max_chars=max_sentence_chars)
    chunks: list[tuple[int, int]] = []
    sentences: list[Sentence] = []
    first = 0
    for i, (s, e) in enumerate(spans):
        if i > first:
            size = e - spans[first][0]
            para_break = "\n\n" in text[spans[i - 1][1] : s]
            current = spans[i - 1][1] - spans[first][0]
            if size > chunk_chars or (para_break and current >= 0.6 * chunk_chars):
                chunks.append((spans[first][0], spans[i - 1][1]))
                first = i
        sentences.append(Sentence(s, e, len(chunks)))
    if spans:
        chunks.append((spans[first][0], spans[-1][1]))
    return Layout(tuple(chunks), tuple(sentences))
