"""Every eval metric, defined once. The runner, the report and the tests all use these.

Answer checks follow SQuAD: lowercase, drop punctuation and articles, collapse whitespace.
Generative runs add metrics over the sentences the LLM wrote, as the verifier judged them.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from qa.text import sentence_spans, strip_markers  # abbreviations ("U.S.", "p.m.") do not end a sentence

MAX_SENTENCES = 2
MAX_WORDS = 75

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("\u2018\u2019\u201c\u201d\u2013\u2014\u2026")


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """True when a gold answer occurs in `text` after normalisation (plain containment, as SQuAD-style
    "answer contains gold" checks do: "Garry Marshall" is in "Garry Marshall's")."""
    norm_text = normalize(text)
    return any(norm and norm in norm_text for norm in map(normalize, answers))


def token_f1(prediction: str, answers: Iterable[str]) -> float:
    """SQuAD token F1 against the best-matching gold answer."""
    pred = normalize(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize(answer).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best



def answer_size(answer: str) -> tuple[int, int]:
    """(sentences, words) of an answer, not counting its [n] markers."""
    text = strip_markers(answer)
    return len(sentence_spans(text)), len(text.split())


def within_limits(answer: str) -> bool:
    sentences, words = answer_size(answer)
    return sentences <= MAX_SENTENCES and words <= MAX_WORDS


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str]) -> float:
    gold = set(gold)
    return next((1.0 / (i + 1) for i, doc in enumerate(ranked) if doc in gold), 0.0)


def hit_at(ranked: Sequence[str], gold: Iterable[str], k: int) -> bool:
    return bool(set(ranked[:k]) & set(gold))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Sentence:
    """One sentence the LLM generated, as the verifier judged it."""

    supported: bool  # it passed: at least one citation supports it, and its numbers and names check out
    citations: int  # markers it emitted, those pointing at no passage included
    supporting: int  # of them, the ones that support it on their own


def generated_sentences(verdicts: Iterable) -> tuple[Sentence, ...]:
    """The claims among `qa.answer.verify.Verdict`s: "the articles don't say" is not one, and is left out."""
    from qa.answer.verify import is_abstention

    return tuple(
        Sentence(v.supported, len(v.claim.markers), v.cited_supporting)
        for v in verdicts
        if not is_abstention(v.claim.text)
    )


@dataclass(frozen=True)
class Outcome:
    """What one question produced, reduced to what the metrics need."""

    answers: tuple[str, ...]  # gold; empty when the documents cannot answer
    gold_docs: frozenset[str]
    ranked_docs: tuple[str, ...]  # retrieved documents, best first, without repeats
    answer: str
    abstained: bool
    quotes: tuple[str, ...] = ()
    cited_docs: tuple[str, ...] = ()
    latency_ms: float = 0.0
    support: float = 0.0  # the answerer's confidence, for the threshold sweep
    candidate: str = ""  # the answer it would give if it did not abstain
    forced: bool = False  # abstained for a reason no threshold changes
    generated: bool = False  # asked in generative mode
    fell_back: bool = False  # generative mode, but the answer is the extractive one (the LLM failed or nothing held up)
    sentences: tuple[Sentence, ...] = ()  # generative mode: the claims the LLM wrote
    turn: int = 1  # its place in a conversation: 2 and later are follow-ups
    scope: frozenset[str] | None = None  # asked within these articles only (filters)

    @property
    def right(self) -> bool:
        """Answered correctly, or abstained where the documents cannot answer."""
        return self.correct if self.answerable else self.abstained

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def correct(self) -> bool:
        """Answered, within two sentences and 75 words, and containing a gold answer."""
        return not self.abstained and self._right(self.answer)

    @property
    def candidate_correct(self) -> bool:
        return self._right(self.candidate or ("" if self.abstained else self.answer))

    def _right(self, answer: str) -> bool:
        if not self.answerable or not answer:
            return False
        return within_limits(answer) and contains_answer(strip_markers(answer), self.answers)

    @property
    def first_citation_in_gold(self) -> bool:
        return bool(self.cited_docs) and self.cited_docs[0] in self.gold_docs

    def at_threshold(self, threshold: float) -> bool:
        """Whether the answerer would abstain at another threshold."""
        return self.forced or self.support < threshold


@dataclass
class Generation:
    """Generative runs: the verifier's verdicts over every generated sentence of the run (micro-averaged),
    abstention sentences left out. nan where there is nothing to measure."""

    answers: int  # answers asked for in generative mode
    sentences: int  # generated sentences that make a claim
    unsupported_rate: float  # sentences that fail verification (strict mode removes them)
    citation_precision: float  # citations that support their sentence on their own / citation markers emitted
    citation_recall: float  # sentences with a supporting citation that pass / sentences
    citation_f1: float
    fallback_rate: float  # answers that fell back to the extractive one

    def values(self) -> dict[str, float]:
        return dict(vars(self))


def summarize_generation(outcomes: Sequence[Outcome]) -> Generation:
    sentences = [s for o in outcomes for s in o.sentences]
    markers = sum(s.citations for s in sentences)
    precision = sum(s.supporting for s in sentences) / markers if markers else math.nan
    recall = _rate(s.supported for s in sentences)
    if precision != precision or recall != recall:
        f1 = math.nan
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Generation(
        answers=len(outcomes), sentences=len(sentences), unsupported_rate=_rate(not s.supported for s in sentences),
        citation_precision=precision, citation_recall=recall, citation_f1=f1,
        fallback_rate=_rate(o.fell_back for o in outcomes),
    )  # fmt: skip


@dataclass
class Metrics:
    recall_at_1: float
    recall_at_5: float
    mrr: float
    answer_accuracy: float
    quote_f1: float
    citation_precision: float
    first_citation_in_gold: float
    abstention_precision: float
    abstention_recall: float
    false_abstention_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    answerable: int
    unanswerable: int
    followup_accuracy: float = math.nan  # later turns of conversations right (answered, or abstained where they must)
    scope_kept: float = math.nan  # questions asked within filters whose every citation is within them
    recall_curve: dict[int, float] = field(default_factory=dict)
    generation: Generation | None = None  # generative runs only

    def headline(self) -> dict[str, float]:
        return {k: v for k, v in vars(self).items() if k not in ("recall_curve", "generation")}

    def values(self) -> dict[str, float]:
        """Every metric a threshold can name: the headline, and `generation.<name>` (nan when the run
        was not generative)."""
        gen = self.generation.values() if self.generation else {k: math.nan for k in Generation.__dataclass_fields__}
        return self.headline() | {f"generation.{k}": v for k, v in gen.items()}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _rate(flags: Iterable[bool]) -> float:
    return _mean([float(f) for f in flags])


def summarize(outcomes: Sequence[Outcome], *, max_k: int = 5) -> Metrics:
    """Retrieval, accuracy, quote F1 and first citation are over answerable questions; citation
    precision over the quotes of answered answerable ones (a quote is precise when it contains a
    gold answer); abstention precision over abstentions, recall over unanswerable questions."""
    ans = [o for o in outcomes if o.answerable]
    una = [o for o in outcomes if not o.answerable]
    retrieval = [o for o in ans if o.gold_docs]
    answered = [o for o in ans if not o.abstained]
    quotes = [q for o in answered for q in o.quotes]
    precise = [contains_answer(q, o.answers) for o in answered for q in o.quotes]
    abstained = [o for o in outcomes if o.abstained]
    latencies = [o.latency_ms for o in outcomes]
    curve = {k: _rate(hit_at(o.ranked_docs, o.gold_docs, k) for o in retrieval) for k in range(1, max_k + 1)}
    return Metrics(
        recall_at_1=curve.get(1, math.nan),
        recall_at_5=curve.get(5, math.nan),
        mrr=_mean([reciprocal_rank(o.ranked_docs, o.gold_docs) for o in retrieval]),
        answer_accuracy=_rate(o.correct for o in ans),
        quote_f1=_mean([max((token_f1(q, o.answers) for q in o.quotes), default=0.0) for o in ans]),
        citation_precision=_rate(precise) if quotes else math.nan,
        first_citation_in_gold=_rate(o.first_citation_in_gold for o in retrieval),
        abstention_precision=_rate(not o.answerable for o in abstained),
        abstention_recall=_rate(o.abstained for o in una),
        false_abstention_rate=_rate(o.abstained for o in ans),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        answerable=len(ans),
        unanswerable=len(una),
        followup_accuracy=_rate(o.right for o in outcomes if o.turn > 1),
        scope_kept=_rate(set(o.cited_docs) <= o.scope for o in outcomes if o.scope is not None),
        recall_curve=curve,
        generation=summarize_generation(gen) if (gen := [o for o in outcomes if o.generated]) else None,
    )  # fmt: skip


def sweep(outcomes: Sequence[Outcome], thresholds: Sequence[float]) -> list[dict[str, float]]:
    """Accuracy and abstention at other thresholds, from one run: the answer does not depend on the
    threshold, only the decision to give it does."""
    ans = [o for o in outcomes if o.answerable]
    una = [o for o in outcomes if not o.answerable]
    rows = []
    for t in thresholds:
        rows.append({
            "threshold": t,
            "answer_accuracy": _rate(not o.at_threshold(t) and o.candidate_correct for o in ans),
            "abstention_recall": _rate(o.at_threshold(t) for o in una),
            "false_abstention_rate": _rate(o.at_threshold(t) for o in ans),
        })  # fmt: skip
    return rows
