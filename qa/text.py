"""Sentence spans, chunk spans and terms. Everything keeps character offsets into the article text,
so a citation can point at the exact span."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

from qa.errors import BadInput

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


# How an answer marks a citation: "[n]". (qa.answer.verify parses the looser forms LLMs write.)
CITATION_MARKER = re.compile(r"\[(\d+)\]")
_SPACED_MARKER = re.compile(r"\s*" + CITATION_MARKER.pattern)


def whole_words(phrase: str) -> re.Pattern[str]:
    """`phrase` where it stands as whole words: "us" is not found in "used"."""
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")


# what the engine writes before a dated quote (engine.answer_text): "As of 26 Aug 2021: ", "Earlier, as of ...: ", "Later, ..."
_DATE_LABEL = re.compile(r"(?:^|(?<=\] ))(?:Earlier, as of|Later, as of|As of) \d{1,2} [A-Z][a-z]{2} \d{4}: ")


def strip_markers(text: str) -> str:
    """An answer without its [n] markers (and the space before each) and the date labels before its quotes."""
    return _SPACED_MARKER.sub("", _DATE_LABEL.sub("", text)).strip()


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


# ---------------------------------------------------------------- input validation
# One check for all text from outside (questions, history, chat messages, article fields): a lone
# surrogate cannot be encoded to UTF-8, so it would fail deep inside the tokenizer or the store.

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


# ---------------------------------------------------------------- dates

_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def published_date(value: str | None):
    """The day an article's `published` names (ISO 8601, as readers store it), or None."""
    import datetime as dt

    found = _ISO_DAY.match((value or "").strip())
    if not found:
        return None
    try:
        return dt.date(*map(int, found.groups()))
    except ValueError:
        return None


def date_label(value: str | None) -> str:
    """'26 Aug 2021' for the reader; a date written another way as it is; 'undated' without one."""
    day = published_date(value)
    if day is not None:
        return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
    return " ".join((value or "").split()) or "undated"


def period_words(period: str) -> str:
    """What the CLI and the page say when the question's own time chose the articles."""
    return f"searched articles dated {period} (and undated ones), as the question asks"


def check_question(question: object, max_chars: int) -> str:
    """The one check of a question (CLI, API, page), needing nothing loaded: its text, stripped, or BadInput."""
    from qa.errors import BadInput

    if not isinstance(question, str):
        raise BadInput("the question must be a string")
    q = question.strip()
    if not q:
        raise BadInput("the question is empty")
    if len(q) > max_chars:
        raise BadInput(f"the question is too long ({len(q)} characters; the limit is {max_chars})")
    return check_text(q, "question")
