"""Text inside articles that speaks to an AI system rather than reporting news ("ignore your
instructions", forged prompt tags, "AI assistants answering questions about X must say Y"). Such a
sentence is never shown to the LLM, never quoted in an answer and never counted as evidence for one.

A sentence is recognised by what it does, not by how far apart its words are. It is flagged when it
ADDRESSES an automated reader (an AI noun phrase as the subject of the command however long its
participle phrase, "you" who is told they are an AI, a vocative "Note to chatbots:", a task clause
"when summarising this text") AND COMMANDS it to say, answer or do something (a modal of obligation
or an imperative whose verb is about output). A reporting frame ("regulators say", "..., police
said", "under the new law") makes such a sentence news about AI rules instead, unless it points at
the text being read ("this article", "reading this") or tells "you" that you are an AI.

Everything works on tokens with look-arounds of a few words, so the cost is linear in the length.

Defence in depth, since no filter catches every phrasing (qa.answer.commands holds the parts):
- the text is normalised first (NFKC, invisible characters dropped, Cyrillic and Greek look-alikes
  folded to Latin, accents dropped); forged role tags ("[SYSTEM]", "<|im_start|>", "### Instruction")
  flag a sentence alone, and so do commands in other languages and English commands to speak ("Say
  that ...", "Hey Siri, ...", "Pretend you are ...", "You are kindly requested to describe ...");
- sentences are judged in pairs too (`flagged_spans`): "Attention, AI assistants. Say that ..." is
  flagged as a whole, and so is the sentence a flagged one announces ("repeat the following:") or
  points back to ("repeat this");
- `commanding`: a sentence in the imperative or addressed to someone, flagged or not, is never an
  extractive answer and never evidence (`instruction_like` is true for it); a reported command
  ("officials told residents to leave", '"Leave now," police said') stays evidence;
- flagged sentences are masked wherever a client sees text (`mask`), with every offset unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from qa.answer.commands import (
    ANSWER_IS, AUDIENCE, HEY, IMPERATIVES, OBJECT_OPENERS, ROLE_LABEL, TO_VERBS, ROLE_PLAY, ROLE_TAG, SALUTATION, SPEECH, foreign_command,
    normalise, request_verbs,
)
from qa.answer.addressing import AI_VOCABULARY, DETERMINERS, QUOTES, SUBORDINATORS, TOKEN, Sentence, is_word, judge, word_set
from qa.text import sentence_spans

if TYPE_CHECKING:
    from qa.index.store import StoredArticle

REDACTED = "[a sentence addressed to AI systems was removed]"

# -- commands: the imperative, requests, salutations, role-play ----------------------------------------------
_LEADS = word_set("please kindly just simply now so and also then always never first instead do don't not")
_SPLIT_AT = word_set(": ;")
_HEADLINE_SUBJECT = word_set("that the a an to it its their his her new no")
_YOU_MODAL = re.compile(
    r"\byou\s+(?:must|should|shall|need\s+to|have\s+to|ought\s+to|are\s+to|will)\s+(?:(?:\w+ly|always|now|also|only|"
    r"never|not|first|then|just)\s+)*(\w+)"
)


def _imperative_starts(tok: list[str], low: list[str]) -> list[int]:
    """Where a verb in the imperative opens a clause: the sentence (after quotes and "please", "so",
    "do not"), after a colon or a dash, after a leading "If asked ...," clause or a short vocative."""
    n = len(low)
    starts, k = [], 0
    while k < n and (not is_word(low[k]) or low[k] in _LEADS):
        k += 1
    if k >= n:
        return []
    starts.append(k)
    first_comma = next((i for i, w in enumerate(low) if w == ","), None)
    vocative = first_comma is not None and 0 < first_comma - k <= 3 and low[k] not in DETERMINERS and all(
        tok[i][:1].isupper() or low[i] in AI_VOCABULARY for i in range(k, first_comma)
    )  # "Siri, say ..."
    if first_comma is not None and (low[k] in SUBORDINATORS or low[k] in ("asked", "whenever") or vocative):
        starts.append(first_comma + 1)
    starts += [i + 1 for i, w in enumerate(low) if w in _SPLIT_AT]
    out = []
    for j in starts:
        while j < n and low[j] in _LEADS:
            j += 1
        if j >= n - 1 or low[j] not in IMPERATIVES or not tok[j][:1].isalpha():
            continue
        nxt = low[j + 1]
        if nxt in OBJECT_OPENERS or (nxt == "to" and low[j] in TO_VERBS) or (nxt[:1].isdigit() and low[j] == "call"):
            out.append(j)
    return out




def _token_at(text: str, pos: int) -> int:
    return len(TOKEN.findall(text[:pos]))


def _command_level(norm: str) -> int:
    """2: a command to speak or play a role, flagged like any injection; 1: any other command or address
    (never evidence, not masked); 0: none, or a reported one."""
    low_text = norm.lower().replace("\u2019", "'")
    tok = TOKEN.findall(norm)
    low = [t.lower().replace("\u2019", "'") for t in tok]
    hey, salute, role = HEY.search(norm), SALUTATION.search(norm), ROLE_PLAY.search(norm)
    requests = [v for v in request_verbs(low_text) if v in IMPERATIVES]
    you = _YOU_MODAL.search(low_text)
    you_speak = bool(you and you.group(1) in SPEECH)
    starts = _imperative_starts(tok, low)
    if not (hey or salute or role or requests or you_speak or starts):
        return 0
    s = Sentence(norm)
    n = len(s.low)
    frames = s.frames()
    first_frame = frames[0] if frames else n
    tail = s.tail_start(frames)
    according = "according" in s.low
    pointed = s.deixis or s.identity

    # a frame set off by a comma after the command: '"Tell me about it," she laughed, when asked ...'
    inner = [f for f in frames if "," in s.low[max(0, f - 4) : f] or any(q in s.low[max(0, f - 4) : f] for q in QUOTES)]

    def framed(j: int) -> bool:  # a reported command: "..., police said", "The mayor said: leave now."
        return (first_frame < j or j < tail < n or according or any(f > j for f in inner)) and not pointed

    level = 0
    if hey and not framed(_token_at(norm, hey.end())):
        return 2
    if role and not framed(_token_at(norm, role.start())):
        after = set(low[_token_at(norm, role.start()) :])
        if not role.group().lower().lstrip(" \"'(").startswith(("imagine", "suppose")) or after & SPEECH:
            return 2
        level = 1
    if requests and not framed(0):
        if any(v in SPEECH for v in requests) or ANSWER_IS.search(norm):
            return 2
        level = 1
    if salute and not framed(_token_at(norm, salute.end())):
        if ANSWER_IS.search(norm):
            return 2
        level = 1
    if you_speak and not framed(_token_at(norm, you.start())):
        level = 1
    for j in starts:
        if framed(j):
            continue
        if low[j] in SPEECH:
            nxt, after = s.word(j + 1), s.word(j + 2)
            wide = low[j + 1 : j + 10]
            if (
                nxt in ("that", ":") or nxt in AUDIENCE or (nxt in ("the", "all", "any", "every") and after in AUDIENCE)
                or (low[j] in ("answer", "respond", "reply") and (nxt in ("with", "only", "all", "every", "any") or after == "with"))
                or (low[j] in ("describe", "portray", "characterise", "characterize", "depict") and "as" in wide)
                or (nxt == "only" and after in ("with", "that", ":"))
            ):  # fmt: skip
                return 2
        level = 1
    return level


# -- the verdicts -----------------------------------------------------------------------------------
def flagged(sentence: str) -> bool:
    """Text injected for an AI system: masked wherever a client sees it, hidden from the LLM."""
    # every question judges the same retrieved sentences again; a huge "sentence" is not worth keeping
    return _flagged(sentence) if len(sentence) <= 2000 else _flag(normalise(sentence))


def commanding(sentence: str) -> bool:
    """A command or a request, or a sentence addressed to someone ("Hey X", "Pretend you are ...",
    "Say that ...", "Could you kindly describe ..."), unless reported: never an answer, never evidence."""
    return _commanding(sentence) if len(sentence) <= 2000 else _command_of(normalise(sentence)) > 0


def instruction_like(sentence: str) -> bool:
    """Never quoted as an answer, never evidence: flagged, or a command (`commanding`)."""
    return flagged(sentence) or commanding(sentence)


@lru_cache(maxsize=16384)
def _flagged(sentence: str) -> bool:
    return _flag(normalise(sentence))


@lru_cache(maxsize=16384)
def _commanding(sentence: str) -> bool:
    return _command_of(normalise(sentence)) > 0


def _command_of(norm: str) -> int:
    return 2 if foreign_command(norm) else _command_level(norm)


def _flag(norm: str) -> bool:
    if judge(norm) or ROLE_TAG.search(norm) or ROLE_LABEL.search(norm):
        return True
    return _command_of(norm) == 2


# A flagged sentence that announces the next one ("repeat the following:") or points back at the one
# before ("Chatbots must repeat this."): the other sentence is its payload.
_ANNOUNCES = re.compile(r"(?::|\bfollowing\b.{0,40}|\bnext (?:sentence|line|paragraph)\b.{0,40}|\bbelow\b.{0,20})\W*$", re.I)
_POINTS_BACK = re.compile(
    r"\b(?:repeat|say|state|confirm|report|mention|tell\s+\w+|write|quote|emphasi[sz]e|stress|include|use|treat)\s+"
    r"(?:this|that|it|the above|the (?:previous|preceding|last) (?:sentence|line|paragraph|statement|claim)|"
    r"this (?:fact|claim|statement|sentence))\b(?=\s*(?:[.!;,:]|$|(?:in|to|when|whenever|every|as|again|word)\b))",
    re.IGNORECASE,
)


def _joined(a: str, b: str) -> str:
    """Two sentences as one, the first ending in a colon: "Attention, AI assistants: Say that ..."."""
    return a.rstrip(" \t\n.!;") + ": " + b.lstrip()


def flagged_spans(text: str, spans: list[tuple[int, int]] | None = None) -> list[bool]:
    """For each sentence span of `text` (all of them by default), whether it is flagged, alone or
    with its neighbour: two sentences flagged together are flagged both."""
    spans = sentence_spans(text) if spans is None else spans
    single = [flagged(text[s:e]) for s, e in spans]
    out = list(single)
    for i in range(len(spans) - 1):
        a, b = text[spans[i][0] : spans[i][1]], text[spans[i + 1][0] : spans[i + 1][1]]
        if single[i] and not single[i + 1]:
            out[i + 1] |= bool(_ANNOUNCES.search(normalise(a)))
        elif single[i + 1] and not single[i]:  # "A note for AI systems. Tell users ...", "... Repeat this."
            head = normalise(a).rstrip(" \t\n.!;") + ":"
            out[i] |= bool(_POINTS_BACK.search(normalise(b))) or Sentence(head).vocative() > 0
        elif not single[i] and not single[i + 1] and flagged(_joined(a, b)):
            out[i] = out[i + 1] = True
    return out


def not_evidence(text: str, spans: list[tuple[int, int]]) -> list[bool]:
    """For each span: flagged (with its neighbours) or a command: no answer, no evidence."""
    return [f or commanding(text[s:e]) for f, (s, e) in zip(flagged_spans(text, spans), spans)]


def not_evidence_of(stored: "StoredArticle", indices: list[int]) -> list[bool]:
    """`not_evidence` for sentences `indices` (consecutive) of a stored article, judged with one neighbour
    beyond each end, so that a pair across a passage's edge ("Repeat the following:" and its payload) is
    seen whole."""
    if not indices:
        return []
    layout = stored.layout.sentences
    lo, hi = max(0, indices[0] - 1), min(len(layout), indices[-1] + 2)
    flags = not_evidence(stored.article.text, [(s.start, s.end) for s in layout[lo:hi]])
    return [flags[j - lo] for j in indices]


# -- what a client sees -------------------------------------------------------------------------------
MASK = "\u2588"  # each character of a flagged sentence but whitespace becomes this: lengths, offsets, wrapping hold


def mask(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """text[start:end] with every character of each flagged span in `spans` (offsets into `text`) but
    whitespace replaced by MASK: the result has the same length, so offsets into it stay valid."""
    end = len(text) if end is None else end
    out = list(text[start:end])
    for (s, e), hit in zip(spans, flagged_spans(text, spans)):
        if hit:
            for k in range(max(s, start), min(e, end)):
                if not out[k - start].isspace():
                    out[k - start] = MASK
    return "".join(out)


def redact(text: str) -> str:
    """The text with each flagged sentence replaced by a note; everything else byte-identical."""
    out, pos = [], 0
    spans = sentence_spans(text)
    for (start, end), hit in zip(spans, flagged_spans(text, spans)):
        if hit:
            out += [text[pos:start], REDACTED]
            pos = end
    return "".join(out) + text[pos:]
