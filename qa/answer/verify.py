"""Checking a generated answer against the passages it cites, sentence by sentence.

A sentence is supported when (1) it cites at least one passage that exists; (2) its embedding is
close enough to a sentence of a cited passage (the threshold is calibrated on squad2 and rgb by
`python -m evals.calibrate_verify`); (3) every number in it is in those close sentences, every name,
month and URL in them or their neighbours (or the article's title); and (4) it is not negated where
they are not. Citations that support nothing are dropped from a supported sentence. Article
questions, sentences addressed to AI systems (judged with their neighbours) and commands, flagged or
not ("Say that the bridge collapsed.", qa.answer.injection.not_evidence), are never evidence.

What it cannot see: a claim built from the right words in the wrong relation ("X was killed by Y"
where the source says Y killed X's predecessors) can pass; only an entailment model would catch that.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Container, Sequence

import numpy as np

from qa.answer.extractive import ABSTAIN_TEXT
from qa.answer.injection import not_evidence_of, redact
from qa.index.passages import Passage
from qa.text import STOPWORDS, is_question, published_date, sentence_spans

# [1], [1, 2], [1-2], [1][2], [Passage 1]; also the full-width brackets some models emit
_MARKER = re.compile(
    r"\s*[\[\u3010]\s*(?:(?:passages?|sources?|doc(?:ument)?s?)\s*)?"
    r"(\d{1,3}(?:\s*(?:,|;|-|\u2013|and)\s*\d{1,3})*)\s*[\]\u3011]",
    re.IGNORECASE,
)
_UNFINISHED_MARKER = re.compile(r"[\[\u3010][^\]\u3011]{0,40}$")
_CLOSERS = "[\"'\u201d\u2019)]*"
_TERMINAL = re.compile(rf"[.!?]+{_CLOSERS}")
_ENDS_SENTENCE = re.compile(rf"[.!?]+{_CLOSERS}$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__|`")
_URL = re.compile(
    r"(?:https?://|www\.)[^\s\])>]+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|gov|edu|io|info|example)\b", re.I
)
_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot)\b|n[\u2019']t\b", re.I)
_WORD = re.compile(r"[\w\u2019'-]+")
_NUMBER_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+(?:-[a-z]+)*")
_ORDINAL_SUFFIX = re.compile(r"(\d)(?:st|nd|rd|th)\b")
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_CARDINALS = {w: i for i, w in enumerate(_UNITS)} | _TENS | {"dozen": 12}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
             "ninth": 9, "tenth": 10}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
# a claim's "one" is usually a pronoun ("one of the groups"), its "first" an order, not a count
_CLAIM_WORDS = {w: v for w, v in _CARDINALS.items() if w not in ("zero", "one")}
_MONTHS = frozenset("january february march april may june july august september october november december".split())
_ABSTAIN = re.compile(
    r"^(?:the |these |my )?(?:articles?|passages?|sources?|documents?|texts?) (?:provided |given )?"
    r"(?:do not|don't|does not|doesn't|did not|didn't) (?:say|mention|state|specify|contain|answer|include|provide)\b",
    re.IGNORECASE,
)
NUMBER_MARGIN = 0.1  # a number may come from a sentence this close to the best one, not from any close one
_DEMONYM = ("i", "is", "n", "ns", "an", "ans", "ian", "ians", "ese", "ish", "istan", "s")


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


def _unwrap(text: str) -> str:
    """Blank lines, list items and lines ending a sentence or a citation break sentences; any other
    line break is a hard wrap inside one ("...an Iraqi\nmilitant called...")."""
    out: list[str] = []
    for line in text.split("\n"):
        item = _LIST_ITEM.match(line)
        line = line[item.end() :] if item else line.strip()
        prev = out[-1].rstrip() if out else ""
        if (
            out
            and prev
            and line
            and not item
            and not _ENDS_SENTENCE.search(prev)
            and not prev.endswith(("]", "\u3011", ":"))
        ):
            out[-1] = prev + " " + line
        else:
            out.append(line)
    return "\n\n".join(x for x in out if x.strip())


def split_claims(text: str) -> list[Claim]:
    """Sentences with the markers that follow them ("... in 2015 [1]." and "... in 2015. [1]" alike).
    A marker at the end of a sentence always closes it, whatever follows ("[1]. e.g. ...", "[1]. he ...")."""
    text = _EMPHASIS.sub("", _unwrap(unicodedata.normalize("NFC", text).strip()))
    plain, markers, pos = "", [], 0
    for m in _MARKER.finditer(text):
        plain += text[pos : m.start()]
        markers.append((len(plain), _numbers_in(m.group(1))))
        pos = m.end()
        if _MARKER.match(text, pos):
            continue  # "[1][2]": the run of markers ends later
        if end := _TERMINAL.match(text, pos):
            plain += end.group()
            pos = end.end()
        if _ENDS_SENTENCE.search(plain) and pos < len(text) and text[pos].isspace():
            plain += "\n\n"
    plain += text[pos:]
    spans = sentence_spans(plain)
    owned: list[list[int]] = [[] for _ in spans]
    for at, numbers_ in markers:
        # a marker belongs to the last sentence that starts before it: markers trail what they support
        i = max((k for k, (s, _) in enumerate(spans) if s < at), default=0)
        if spans:
            owned[i] += numbers_
    return [
        Claim(" ".join(plain[s:e].split()), tuple(dict.fromkeys(nums)))
        for (s, e), nums in zip(spans, owned)
        if re.search(r"\w", plain[s:e])
    ]


def claims_so_far(text: str, *, final: bool) -> list[Claim]:
    """Sentences complete so far: while streaming, the last one may still grow, and a marker cut in
    half ("... in 2015. [1") must not leave its sentence looking uncited."""
    if final:
        return split_claims(text)
    return split_claims(_UNFINISHED_MARKER.sub("", text))[:-1]


def is_abstention(sentence: str) -> bool:
    """ "The articles don't say (when it was founded)." is no claim; anything added to it is one."""
    s = " ".join(sentence.replace("\u2019", "'").split())
    if s.rstrip(".") == ABSTAIN_TEXT.rstrip("."):
        return True
    return bool(
        _ABSTAIN.match(s)
        and len(s.split()) <= 12
        and not re.search(r"\d|[,;:]|\b(but|and|although|however)\b", s)
        and not names(s, frozenset())  # fmt: skip
    )


# -- numbers ---------------------------------------------------------------------------------------
def _value(token: str) -> float | None:
    if token[0].isdigit():
        try:
            return float(token.replace(",", ""))
        except ValueError:  # "1.200.5"
            return None
    if "-" in token:  # "twenty-four"
        tens, _, unit = token.partition("-")
        if tens in _TENS and unit in _CARDINALS and _CARDINALS[unit] < 10:
            return float(_TENS[tens] + _CARDINALS[unit])
        return None
    return None


def _form(v: float) -> str:
    return str(int(v)) if v.is_integer() else f"{v:g}"


def number_forms(text: str, *, claim: bool) -> list[set[str]]:
    """Each number of `text` as its possible spellings: "1.2 million" -> {"1.2", "1200000"},
    "twenty-four" -> {"24"}, "2,000" -> {"2000"}. A claim's number holds when one spelling is in the
    evidence; the evidence also counts "one" and ordinals."""
    words = _CLAIM_WORDS if claim else _CARDINALS | _ORDINALS
    tokens = _NUMBER_TOKEN.findall(_ORDINAL_SUFFIX.sub(r"\1", text.lower()))
    out: list[set[str]] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        value = float(words[t]) if t in words else _value(t)
        i += 1
        if value is None:
            continue
        forms = {_form(value)} if t[0].isdigit() or t in words or "-" in t else set()
        if t[0].isdigit():
            forms.add(t.replace(",", "").lstrip("0") or "0")
        if i < len(tokens) and tokens[i] in _SCALES:
            scaled = _form(value * _SCALES[tokens[i]])
            forms = {scaled} if claim else forms | {scaled}  # a claim's "five thousand" is not a "5"
            i += 1
        out.append(forms)
    return out


# -- names -----------------------------------------------------------------------------------------
def _fold(word: str) -> str:
    word = word.lower().replace("\u2019", "'").strip("'-")
    return word[:-2] if word.endswith("'s") else word


def names(sentence: str, common: Container[str]) -> dict[str, str]:
    """Capitalised words (names, places, months, acronyms), folded -> as written. A capitalised
    stopword ("The", "It") is no name, an acronym ("US", "WHO") is; a sentence's first word counts
    only when the articles never write it in lower case ("Since" does not count; "Kabul" does)."""
    out: dict[str, str] = {}
    first = True
    for m in _WORD.finditer(sentence):
        raw = m.group().strip("'\u2019-")
        at_start, first = first, False
        if len(raw) < 2 or not any(c.isupper() for c in raw) or raw[0].isdigit():
            continue
        word = _fold(raw)
        acronym = raw.isupper()
        if not acronym and word in STOPWORDS and word not in _MONTHS:
            continue
        if at_start and not acronym and word in common:
            continue
        out.setdefault(word, raw)
    return out


def _has_name(name: str, vocabulary_: set[str]) -> bool:
    if name in vocabulary_ or all(part in vocabulary_ for part in name.split("-") if part):
        return True
    # "Afghan" / "Afghanistan", "Pakistani" / "Pakistan", "Afghans": the same name with a demonym ending
    base = name[:-1] if name.endswith("s") and len(name) > 4 else name
    for v in vocabulary_:
        if len(v) >= 4 and len(base) >= 4:
            longer, shorter = (v, base) if len(v) > len(base) else (base, v)
            if longer.startswith(shorter) and longer[len(shorter) :] in _DEMONYM:
                return True
    return False


_CAPITALISED_RUN = re.compile(r"[A-Z][\w'-]*(?:\s+(?:of|the|and|for)?\s*[A-Z][\w'-]*)+")


def _acronyms(text: str) -> set[str]:
    """Acronyms as written ("US", "WHO"; never the pronouns "us", "who") and the initials of
    capitalised runs ("United Nations" -> "UN", "World Health Organization" -> "WHO")."""
    found = {_fold(w).upper() for w in _WORD.findall(text) if w.strip("'\u2019-").isupper()}
    for run in _CAPITALISED_RUN.findall(text):
        found.add("".join(w[0] for w in run.split() if w[0].isupper()))
    return found | {a.replace(".", "") for a in re.findall(r"\b(?:[A-Z]\.){2,}", text)}


def vocabulary(text: str) -> set[str]:
    words = {_fold(w) for w in _WORD.findall(text)}
    return words | {p for w in words for p in w.split("-") if p}


def missing_facts(claim: str, *, numbers_in: str, names_in: str, common: Container[str] = frozenset()) -> list[str]:
    """The claim's numbers not in `numbers_in`, and its names, months and URLs not in `names_in`."""
    have = {f for forms in number_forms(numbers_in, claim=False) for f in forms}
    missing = [min(forms, key=len) for forms in number_forms(claim, claim=True) if not forms & have]
    words, acronyms = vocabulary(names_in), _acronyms(names_in)
    missing += [
        shown for n, shown in names(_URL.sub(" ", claim), common).items()
        if not (shown in acronyms if shown.isupper() else _has_name(n, words))
    ]  # fmt: skip
    lowered = names_in.lower()
    missing += [u for u in _URL.findall(claim) if u.lower().rstrip(".,") not in lowered]
    return missing


@dataclass(frozen=True)
class Evidence:
    """A sentence of a cited passage close enough to the claim."""

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
    evidence: list[Evidence] = field(default_factory=list)  # the best close sentence of each supporting citation
    invalid: tuple[int, ...] = ()  # markers that point at no passage
    similarity: float = 0.0  # best similarity over the cited passages
    cited_supporting: int = 0  # citations that support the claim on their own (for citation precision)


@dataclass(frozen=True)
class _Rows:
    """The sentences of one passage that can be evidence, with their unit vectors."""

    spans: list[tuple[int, int, int]]  # (sentence number, start, end)
    matrix: np.ndarray
    texts: list[str]
    title: str


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)



def _judged_sentences(p: Passage) -> list[tuple[int, int, int, bool]]:
    """The passage's sentences (number, start, end) and whether each is no evidence: flagged (judged
    with its neighbours, one beyond each end of the chunk too) or a command ("Say that ...")."""
    layout = p.stored.layout.sentences
    own = [j for j, _ in p.stored.sentences_of(p.chunk)]
    return [(j, layout[j].start, layout[j].end, x) for j, x in zip(own, not_evidence_of(p.stored, own))]


class Verifier:
    """One per question: it caches the cited passages' sentences and unit vectors."""

    def __init__(
        self,
        *,
        embed: Callable[[list[str]], list[list[float]]],
        min_support: float,
        common_words: Container[str] = frozenset(),
    ) -> None:
        self._embed = embed
        self.min_support = min_support
        self.common_words = common_words
        self._cache: dict[int, _Rows] = {}

    def _rows(self, passages: Sequence[Passage], k: int) -> _Rows:
        if k not in self._cache:
            p = passages[k]
            text = p.stored.article.text
            spans = [
                (j, s, e) for j, s, e, excluded in _judged_sentences(p) if not excluded and not is_question(text[s:e])
            ]
            vectors = p.vectors  # fetched by the retriever with the sentence cosines
            spans = [r for r in spans if r[0] in vectors]
            matrix = (
                _unit(np.asarray([vectors[j] for j, _, _ in spans], dtype=np.float32)) if spans else np.zeros((0, 1))
            )
            # a title that speaks to AI systems is no evidence for names or numbers either; the date the article
            # was published is ("As of March 2026, ..."), as the prompt asks the model to say when a fact was reported
            day = published_date(p.stored.article.published)
            title = redact(p.stored.article.title) + (f"\n{day.isoformat()} {day.day} {day:%B} {day.year}" if day else "")
            self._cache[k] = _Rows(spans, matrix, [text[s:e] for _, s, e in spans], title)
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
            why = "cites no passage" if not invalid else (
                f"cites {', '.join(f'[{n}]' for n in invalid)}, but only {len(passages)} passages were given"
            )  # fmt: skip
            return Verdict(claim, False, why, invalid=invalid)
        best: list[Evidence] = []
        numbers_in, names_in, negated = [], [], False
        for n in valid:
            rows = self._rows(passages, n - 1)
            if not rows.spans:
                continue
            sims = rows.matrix @ vector
            close = [i for i in np.argsort(-sims) if sims[i] >= self.min_support]
            j, start, end = rows.spans[int(np.argmax(sims))]
            if not close:
                best.append(Evidence(n - 1, j, start, end, float(sims.max())))
                continue
            best.append(Evidence(n - 1, j, start, end, float(sims[close[0]])))
            # Numbers must be in the closest sentences themselves: "killed 100" is not supported by "killed 24"
            # beside "100 attacks". Names may come from a neighbour ("He ..." after "Shahab al-Muhajir ...").
            numbers_in += [rows.title] + [rows.texts[i] for i in close if sims[i] >= sims[close[0]] - NUMBER_MARGIN]
            names_in += [rows.title] + [
                rows.texts[k] for i in close for k in range(max(0, i - 1), min(len(rows.texts), i + 2))
            ]
            negated |= any(_NEGATION.search(rows.texts[i]) for i in close)
        best.sort(key=lambda e: -e.similarity)
        top = best[0].similarity if best else 0.0
        close_best = [e for e in best if e.similarity >= self.min_support]
        verdict = Verdict(claim, False, invalid=invalid, similarity=top)
        if not close_best:
            verdict.reason = f"not close enough to what the cited passage{'s say' if len(valid) > 1 else ' says'} (similarity {top:.2f} < {self.min_support:.2f})"
            return verdict
        missing = missing_facts(
            claim.text, numbers_in="\n".join(numbers_in), names_in="\n".join(names_in), common=self.common_words
        )
        if missing:
            verdict.reason = (
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the sentences it cites"
            )
            return verdict
        if _NEGATION.search(claim.text) and not negated:
            verdict.reason = "it negates what the cited sentences say"
            return verdict
        verdict.supported = True
        verdict.evidence = close_best
        verdict.cited_supporting = len(close_best)
        return verdict
