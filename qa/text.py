"""Sentence spans, chunk spans and terms. Everything keeps character offsets into the article text,
so a citation can point at the exact span."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

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
    word = text[start : match.start()].rsplit(None, 1)[-1].lstrip(_OPENERS).lower()
    # An initial ("J.") or a known abbreviation does not end a sentence.
    return not (len(word) == 1 and word.isalpha()) and word not in _ABBREVIATIONS


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences as (start, end) offsets; paragraph breaks always end a sentence."""
    spans: list[tuple[int, int]] = []
    for p_start, p_end in _paragraphs(text):
        start = p_start
        for m in _END.finditer(text, p_start, p_end):
            if _is_boundary(text, m, start, p_end):
                spans.append(_trim(text, start, m.end()))
                start = m.end()
        if text[start:p_end].strip():
            spans.append(_trim(text, start, p_end))
    return [s for s in spans if s[1] > s[0]]


def is_question(sentence: str) -> bool:
    """An article asking a question answers none and supports no claim."""
    return sentence.rstrip(_CLOSERS).endswith("?")


def is_heading(sentence: str) -> bool:
    """A short line with no closing punctuation is a headline or page furniture, not a statement."""
    return not sentence.rstrip(_CLOSERS).endswith((".", "!", "?", ":", ";")) and len(sentence.split()) <= 12


def layout(text: str, *, chunk_chars: int) -> Layout:
    """Pack whole sentences into chunks of about `chunk_chars`, preferring paragraph breaks."""
    spans = sentence_spans(text)
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


_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:[-'\u2019]\w+)*")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from into onto about as is are was were be been being "
    "am do does did done have has had having it its it's this that these those there here what which who whom "
    "whose when where why how i me my we us our you your he him his she her they them their than then so such "
    "not no nor can could would should will shall may might must also just only very more most some any all "
    "each other another same own s t said says say tell told according".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


# Irregular past forms, so "led" meets "leads" and "won" meets "wins"; the stemmer cannot see these.
_IRREGULAR = dict(
    pair.split(":")
    for pair in (
        "led:lead began:begin begun:begin bought:buy brought:bring built:build caught:catch chose:choose "
        "chosen:choose came:come dealt:deal drew:draw drawn:draw drove:drive driven:drive fell:fall fallen:fall "
        "felt:feel fought:fight found:find fled:flee flew:fly flown:fly forgot:forget gave:give given:give "
        "went:go gone:go grew:grow grown:grow held:hold hid:hide hidden:hide hit:hit kept:keep knew:know "
        "known:know laid:lay left:leave lent:lend lost:lose made:make meant:mean met:meet paid:pay ran:run "
        "rose:rise risen:rise sought:seek sold:sell sent:send shot:shoot shut:shut sang:sing sat:sit slept:sleep "
        "spoke:speak spoken:speak spent:spend stood:stand stole:steal stolen:steal struck:strike swore:swear "
        "sworn:swear took:take taken:take taught:teach thought:think threw:throw thrown:throw understood:understand "
        "woke:wake wore:wear worn:wear won:win wrote:write written:write became:become broke:break broken:break "
        "ate:eat eaten:eat forbade:forbid froze:freeze frozen:freeze got:get gotten:get lay:lie lain:lie "
        "overcame:overcome overthrew:overthrow overthrown:overthrow rode:ride ridden:ride rang:ring rung:ring "
        "saw:see seen:see shook:shake shaken:shake withdrew:withdraw withdrawn:withdraw men:man women:woman "
        "children:child people:person mice:mouse feet:foot teeth:tooth"
    ).split()
)


def terms(text: str) -> list[str]:
    """Stemmed content words, for lexical evidence."""
    words = [_IRREGULAR.get(t, t) for t in tokens(text) if t not in STOPWORDS]
    return [_fold_agent(s) for s in _stemmer().stemWords(words)]


def _fold_agent(stem: str) -> str:
    """"leader" meets "lead", "fighter" "fight", "higher" "high": the stemmer keeps -er words apart."""
    return stem[:-2] if len(stem) > 5 and stem.endswith("er") else stem
