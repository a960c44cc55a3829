"""Checking a generated answer against the passages it cites, sentence by sentence.

A sentence is supported when (1) it cites at least one passage that exists, (2) its embedding is
close enough to the best sentence of a cited passage (the threshold is calibrated on squad2 and rgb
by `python -m evals.calibrate_verify`), and (3) every number, date and name in it appears in the
cited passages (or their titles). Citations that support nothing are dropped from a supported
sentence; sentences addressed to AI systems are never evidence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from qa.answer import ABSTAIN_TEXT, Passage
from qa.injection import instruction_like
from qa.text import STOPWORDS, sentence_spans

# [1], [1, 2], [1-2], [1][2]; also the full-width brackets some models emit
_MARKER = re.compile(
    r"\s*[\[\u3010]\s*(?:(?:passages?|sources?|doc(?:ument)?s?)\s*)?"
    r"(\d{1,3}(?:\s*(?:,|;|-|\u2013|and)\s*\d{1,3})*)\s*[\]\u3011]",
    re.IGNORECASE,
)
_LIST_PREFIX = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"\*\*|__|`")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[\w\u2019'-]+")
_NAME = re.compile(r"[\w\u2019'-]*[A-Z][\w\u2019'-]*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
     "hundred": "100", "thousand": "1000", "dozen": "12", "first": "1", "second": "2", "third": "3", "fourth": "4",
     "fifth": "5", "sixth": "6", "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10"}  # fmt: skip
_ORDINAL_SUFFIX = re.compile(r"(\d)(?:st|nd|rd|th)\b")
_ABSTAIN = re.compile(
    r"^(?:the |these |my )?(?:articles?|passages?|sources?|documents?|texts?) (?:provided |given )?"
    r"(?:do not|don't|does not|doesn't|did not|didn't) (?:say|mention|state|specify|contain|answer|include|provide)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """One sentence of a generated answer: its text without markers, and the passage numbers it cites."""

    text: str
    markers: tuple[int, ...]


def _numbers_in(marker: str) -> list[int]:
    """`1, 2` -> [1, 2]; `1-3` -> [1, 2, 3]."""
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", marker):
        bounds = [int(x) for x in re.split(r"\s*[-\u2013]\s*", part) if x.strip().isdigit()]
        if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < 20:
            out += range(bounds[0], bounds[1] + 1)
        else:
            out += bounds
    return out


def split_claims(text: str) -> list[Claim]:
    """Sentences with the markers that follow them ("... in 2015 [1]." and "... in 2015. [1]" alike).
    Line breaks always end a sentence, so list items count one by one."""
    text = _EMPHASIS.sub("", _LIST_PREFIX.sub("", unicodedata.normalize("NFC", text)))
    text = re.sub(r"\s*\n\s*", "\n\n", text.strip())
    clean, markers, pos = [], [], 0
    length = 0
    for m in _MARKER.finditer(text):
        piece = text[pos : m.start()]
        clean.append(piece)
        length += len(piece)
        markers.append((length, _numbers_in(m.group(1))))
        pos = m.end()
    clean.append(text[pos:])
    plain = "".join(clean)
    spans = sentence_spans(plain)
    if not spans:
        return []
    owned: list[list[int]] = [[] for _ in spans]
    for at, numbers in markers:
        # a marker belongs to the last sentence that starts before it: markers trail what they support
        i = max((k for k, (s, _) in enumerate(spans) if s < at), default=0)
        owned[i] += numbers
    return [
        Claim(" ".join(plain[s:e].split()), tuple(dict.fromkeys(nums)))
        for (s, e), nums in zip(spans, owned)
        if re.search(r"\w", plain[s:e])
    ]


def is_abstention(sentence: str) -> bool:
    s = sentence.replace("\u2019", "'").strip()
    return s.rstrip(".") == ABSTAIN_TEXT.rstrip(".") or bool(
        _ABSTAIN.match(s) and len(s.split()) <= 20 and not _NUMBER.search(s)
    )


def _normal_number(n: str) -> str:
    n = n.replace(",", "")
    return n[:-2] if n.endswith(".0") else n


def numbers(text: str, *, words: bool) -> set[str]:
    text = _ORDINAL_SUFFIX.sub(r"\1", text)
    found = {_normal_number(n) for n in _NUMBER.findall(text)}
    if words:
        found |= {_NUMBER_WORDS[w] for w in _WORD.findall(text.lower()) if w in _NUMBER_WORDS}
    return found


def _fold(word: str) -> str:
    word = word.lower().replace("\u2019", "'").strip("'-")
    return word[:-2] if word.endswith("'s") else word


def names(sentence: str, common: frozenset[str]) -> dict[str, str]:
    """Capitalised words (names, places, months), folded -> as written. A sentence's first word counts
    only when the articles never write it in lower case ("The", "Since" do not count; "Kabul" does)."""
    out: dict[str, str] = {}
    for m in _NAME.finditer(sentence):
        word = _fold(m.group())
        if not word or word in STOPWORDS or word.isdigit() or len(word) < 2:
            continue
        if m.start() == len(sentence) - len(sentence.lstrip()) and word in common:
            continue
        out.setdefault(word, m.group().strip("'\u2019-"))
    return out


def _has_name(name: str, vocabulary: set[str]) -> bool:
    if name in vocabulary or all(part in vocabulary for part in name.split("-") if part):
        return True
    # "Afghan" / "Afghanistan", "Pakistani" / "Pakistan": one is a prefix of the other
    return len(name) >= 4 and any(len(v) >= 4 and (v.startswith(name) or name.startswith(v)) for v in vocabulary)


def vocabulary(text: str) -> set[str]:
    words = {_fold(w) for w in _WORD.findall(text)}
    return words | {p for w in words for p in w.split("-") if p}


@dataclass(frozen=True)
class Evidence:
    """The best sentence of one cited passage for one claim."""

    passage: int  # index into the passages given to the model (its number minus one)
    sentence: int
    start: int
    end: int
    similarity: float


@dataclass
class Verdict:
    claim: Claim
    supported: bool
    reason: str | None = None
    evidence: list[Evidence] = field(default_factory=list)  # the supporting citations, best first
    invalid: tuple[int, ...] = ()  # markers that point at no passage
    similarity: float = 0.0  # best similarity over the cited passages
    cited_supporting: int = 0  # citations that support the claim on their own (for citation precision)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)


class Verifier:
    def __init__(
        self,
        *,
        embed: Callable[[list[str]], list[list[float]]],
        sentence_vectors: Callable[[Passage], dict[int, list[float]]],
        min_support: float,
        common_words: frozenset[str] = frozenset(),
    ) -> None:
        self._embed = embed
        self._sentence_vectors = sentence_vectors
        self.min_support = min_support
        self.common_words = common_words
        self._cache: dict[int, tuple[list[tuple[int, int, int]], np.ndarray, set[str], set[str]]] = {}

    def _passage(self, passages: Sequence[Passage], k: int):
        """Sentences (number, start, end), their unit vectors, and the passage's vocabulary and numbers."""
        if k not in self._cache:
            p = passages[k]
            text = p.stored.article.text
            rows = [
                (j, s.start, s.end)
                for j, s in p.stored.sentences_of(p.chunk)
                if not instruction_like(text[s.start : s.end])
            ]
            vectors = self._sentence_vectors(p)
            rows = [r for r in rows if r[0] in vectors]
            matrix = _unit(np.asarray([vectors[j] for j, _, _ in rows], dtype=np.float32)) if rows else np.zeros((0, 1))
            body = p.stored.article.title + "\n" + "\n".join(text[s:e] for _, s, e in rows)
            self._cache[k] = (rows, matrix, vocabulary(body), numbers(body, words=True))
        return self._cache[k]

    def check(self, claims: Sequence[Claim], passages: Sequence[Passage]) -> list[Verdict]:
        if not claims:
            return []
        vectors = _unit(np.asarray(self._embed([c.text for c in claims]), dtype=np.float32))
        return [self._one(c, v, passages) for c, v in zip(claims, vectors)]

    def _one(self, claim: Claim, vector: np.ndarray, passages: Sequence[Passage]) -> Verdict:
        valid = tuple(n for n in claim.markers if 1 <= n <= len(passages))
        invalid = tuple(n for n in claim.markers if n not in valid)
        if not valid:
            why = (
                "cites no passage"
                if not invalid
                else f"cites {', '.join(f'[{n}]' for n in invalid)}, which do not exist"
            )
            return Verdict(claim, False, why, invalid=invalid)
        scored: list[Evidence] = []
        for n in valid:
            rows, matrix, _, _ = self._passage(passages, n - 1)
            if not rows:
                continue
            sims = matrix @ vector
            best = int(np.argmax(sims))
            j, start, end = rows[best]
            scored.append(Evidence(n - 1, j, start, end, float(sims[best])))
        scored.sort(key=lambda e: -e.similarity)
        best_sim = scored[0].similarity if scored else 0.0
        close = [e for e in scored if e.similarity >= self.min_support]
        verdict = Verdict(claim, False, invalid=invalid, similarity=best_sim, cited_supporting=len(close))
        if not close:
            verdict.reason = f"not close enough to what {self._refs(valid)} says (similarity {best_sim:.2f} < {self.min_support:.2f})"
            return verdict
        words, nums = set(), set()
        for e in close:
            _, _, vocab, found = self._passage(passages, e.passage)
            words |= vocab
            nums |= found
        missing_numbers = sorted(numbers(claim.text, words=False) - nums)
        missing_names = sorted(
            shown for n, shown in names(claim.text, self.common_words).items() if not _has_name(n, words)
        )
        if missing_numbers or missing_names:
            shown = ", ".join(missing_numbers + missing_names)
            verdict.reason = f"{shown} {'is' if len(missing_numbers + missing_names) == 1 else 'are'} not in {self._refs(tuple(e.passage + 1 for e in close))}"
            verdict.cited_supporting = 0
            return verdict
        verdict.supported = True
        verdict.evidence = close
        return verdict

    @staticmethod
    def _refs(numbers_: tuple[int, ...]) -> str:
        return ("passage " if len(numbers_) == 1 else "passages ") + ", ".join(f"[{n}]" for n in numbers_)
