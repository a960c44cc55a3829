"""The extractive answerer: pick the sentence(s) that answer, or abstain.

A sentence's support mixes its embedding similarity to the question, the question's words it
contains (weighted by rarity), whether it offers what the question asks for, and its passage's
retrieval score. Below a calibrated support the answer is "the articles don't say".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from qa.answer_types import AnswerType, expected_type, offers
from qa.config import AnswerSettings
from qa.store import StoredArticle
from qa.text import terms, tokens

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

    from qa.index import Snapshot

ABSTAIN_TEXT = "The articles don't say."
_WEIGHTS = {"cos": 0.40, "lex": 0.35, "typed": 0.15, "passage": 0.10}


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, converted from LlamaIndex's NodeWithScore at the retriever boundary."""

    stored: StoredArticle
    chunk: int
    score: float
    sentence_cos: dict[int, float]

    @classmethod
    def from_node(cls, hit: "NodeWithScore", snap: "Snapshot") -> "Passage":
        meta = hit.node.metadata
        return cls(snap.by_hash[meta["hash"]], int(meta["chunk"]), float(hit.score or 0.0), meta["sentence_cos"])

    @property
    def span(self) -> tuple[int, int]:
        return self.stored.chunk(self.chunk)

    @property
    def text(self) -> str:
        start, end = self.span
        return self.stored.article.text[start:end]


@dataclass(frozen=True)
class Pick:
    passage: Passage
    sentence: int
    start: int
    end: int
    support: float
    features: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.passage.stored.article.text[self.start : self.end]


@dataclass(frozen=True)
class Draft:
    picks: list[Pick]
    support: float
    abstained: bool
    asks: AnswerType | None


def _lexical(sentence_terms: set[str], weighted: dict[str, float]) -> float:
    total = sum(weighted.values())
    return sum(w for t, w in weighted.items() if t in sentence_terms) / total if total else 0.0


class ExtractiveAnswerer:
    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def _query_terms(self, question: str, context: str, idf: Callable[[str], float]) -> dict[str, float]:
        weighted = {t: idf(t) for t in terms(question)}
        for t in terms(context):
            weighted.setdefault(t, 0.5 * idf(t))  # history helps, but the question leads
        return weighted

    def score(self, question: str, passages: Sequence[Passage], *, idf: Callable[[str], float], context: str = "") -> list[Pick]:
        asks = expected_type(question)
        weighted = self._query_terms(question, context, idf)
        top = max((p.score for p in passages), default=1.0) or 1.0
        picks = []
        for p in passages:
            text = p.stored.article.text
            for j, s in p.stored.sentences_of(p.chunk):
                sentence = text[s.start : s.end]
                f = {
                    "cos": max(0.0, p.sentence_cos.get(j, 0.0)),
                    "lex": _lexical(set(terms(sentence)), weighted),
                    "typed": 0.5 if asks is None else float(offers(sentence, asks, question)),
                    "passage": p.score / top,
                }
                support = sum(_WEIGHTS[k] * v for k, v in f.items())
                # A question in the article, or a fragment, is not an answer.
                if sentence.rstrip("\"'\u201d\u2019 ").endswith("?"):
                    support *= 0.5
                if len(tokens(sentence)) < 4:
                    support *= 0.6
                picks.append(Pick(p, j, s.start, s.end, support, f))
        return sorted(picks, key=lambda pk: -pk.support)

    def answer(self, question: str, passages: Sequence[Passage], *, idf: Callable[[str], float], context: str = "") -> Draft:
        asks = expected_type(question)
        picks = self.score(question, passages, idf=idf, context=context)
        if not picks:
            return Draft([], 0.0, True, asks)
        best = picks[0]
        if best.support < self.settings.abstain_threshold or (asks is not None and not best.features["typed"]):
            return Draft([], best.support, True, asks)
        chosen = [best]
        if self.settings.max_sentences > 1:
            chosen += self._second(best, picks[1:])
        return Draft(sorted(chosen, key=lambda pk: (pk.passage.stored.id, pk.start)), best.support, False, asks)

    def _second(self, best: Pick, rest: list[Pick]) -> list[Pick]:
        """A neighbouring sentence of the same passage, only when nearly as strong: it usually
        completes the first ("He said: ...") rather than padding it."""
        for pick in rest[:3]:
            near = pick.passage is best.passage and abs(pick.sentence - best.sentence) == 1
            if near and pick.support >= 0.9 * best.support:
                return [pick]
        return []
