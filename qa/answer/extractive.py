"""The extractive answerer: pick the sentence(s) that answer, or abstain.

A cheap linear ranker (embedding similarity, the question's words weighted by rarity, whether a
sentence offers what the question asks for, passage scores) orders every sentence of the top
passages. The trained answer model (qa/answer/model.py) then scores the best few in their context:
its probability chooses the answer and, below a calibrated threshold, says "the articles don't say".
With `QA_ANSWER_MODEL=linear` the ranker's own support decides, as before the model existed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Sequence

from qa.answer.abstention import anchor_share, anchors, candidate_features, sigmoid
from qa.answer.injection import instruction_like, not_evidence_of, redact
from qa.answer.model import Candidate
from qa.answer.periods import AskedTime, Period
from qa.answer.question_types import STRICT, AnswerType, candidates, expected_type, offers
from qa.config import AnswerSettings
from qa.index.passages import Passage
from qa.text import is_heading, is_question, published_date, terms, tokens, whole_words

if TYPE_CHECKING:
    from qa.answer.model import AnswerModel
    from qa.index.snapshot import Snapshot
    from qa.text import Sentence

ABSTAIN_TEXT = "The articles don't say."

# A linear ranking model over the features below, and a logistic map from the best score to the
# support in 0..1; both fitted by `python -m evals.fit_scorer` on SQuAD 1.1 train articles the answer
# model trained on (never a benchmark, never the articles its abstention is fitted on).
WEIGHTS: dict[str, float] = {
    "cos": 1.428, "cos_gap": 1.428, "cos_rank": 1.026, "lex": 0.613, "lex_gap": 0.613, "lex_rank": -0.063,
    "lex_window": 2.852, "lex_prev": 0.814, "offers": 0.674, "lacks": -0.674, "lex_offers": 0.013, "passage": 1.857,
    "passage_bm25": 1.004, "bigram": 1.592, "num_sentence": 0.602, "num_passage": 0.149, "year_conflict_sentence": -1.0,
    "year_conflict_passage": -1.0, "consensus": 2.0, "lex_plain": 1.679, "top_passage": 0.748, "short": -0.016,
    "novelty": -0.187,
}  # fmt: skip
SCALE = 0.570
BIAS = -4.320
FEATURES = tuple(WEIGHTS)
_SECOND_LOOKAHEAD = 3  # candidates tried for the second sentence when the next one is too long
_BY_SIMILARITY = 3  # of the answer model's candidates, those chosen by embedding similarity alone
_PRONOUN = re.compile(r"(?:He|She|It|They|His|Her|Its|Their|Him|Them|This|These|Those)\b")


def rank_score(features: dict[str, float]) -> float:
    return sum(WEIGHTS[k] * features[k] for k in WEIGHTS)


def support(score: float) -> float:
    return sigmoid(SCALE * score + BIAS)



def _day(item: "Pick | Passage"):
    """The day the article of a pick or passage was published, or None."""
    stored = item.passage.stored if isinstance(item, Pick) else item.stored
    return published_date(stored.article.published)


def _anchored(pick: "Pick", asked: set[str]) -> float:
    """The share of the question's names and numbers in a pick's sentence, its neighbours and its title: the
    abstention classifier's `anchors`, and what a newer report must hold (a model's probabilities may sit
    anywhere; a newer report about something else is no update)."""
    return _anchor_share(pick.candidate(with_next=True), asked)


def _anchor_share(c: Candidate, asked: set[str]) -> float:
    return anchor_share(asked, f"{c.title}\n{c.previous}\n{c.sentence}\n{c.next}")


def _timeliness(day, period: "Period | None") -> tuple[int, int]:
    """How well a report's date fits the question, smaller first: without a period the newest; with one,
    those in it (newest first), then the last before it, then the first after it; undated last."""
    if day is None:
        return (3, 0)
    if period is None or period.holds(day):
        return (0, -day.toordinal())
    if period.since is not None and day < period.since:
        return (1, -day.toordinal())
    return (2, day.toordinal())


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

    def _near(self, offset: int) -> "Sentence | None":
        """The sentence `offset` away from this one in its article; None at either end, or when it is an
        instruction (the model reads the context too, and a quote must not carry one)."""
        sentences = self.passage.stored.layout.sentences
        j = self.sentence + offset
        if not 0 <= j < len(sentences):
            return None
        s = sentences[j]
        return None if instruction_like(self.passage.stored.article.text[s.start : s.end]) else s

    def previous(self) -> "Pick | None":
        """The sentence before this one, as a pick of the same passage (None at a passage's start)."""
        before = self._near(-1)
        if before is None or before.chunk != self.passage.stored.layout.sentences[self.sentence].chunk:
            return None
        return Pick(self.passage, self.sentence - 1, before.start, before.end, self.support, self.features)

    def neighbour(self, offset: int) -> str:
        """The text of the sentence `offset` away ("" where `_near` finds none)."""
        s = self._near(offset)
        return "" if s is None else self.passage.stored.article.text[s.start : s.end]

    def candidate(self, *, with_next: bool = False) -> "Candidate":
        """The sentence as the answer model sees it: with its title, the sentence before it and,
        with `with_next`, the one after it."""
        stored = self.passage.stored
        return Candidate(self.text, redact(stored.article.title), self.neighbour(-1), self.neighbour(1) if with_next else "")


@dataclass(frozen=True)
class Draft:
    """The sentences it would answer with; `abstained` says whether it will. The picks are kept
    either way, so the evals can see what another threshold would have answered."""

    picks: list[Pick]
    support: float
    abstained: bool
    asks: AnswerType | None
    forced: bool = False  # abstained whatever the threshold: nothing retrieved is about the question, or a date or number asked for is missing


_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")


def _number_features(numbers: set[str], text: str) -> dict[str, float]:
    """A question about 2021 is not answered by a sentence about 2019: numbers it names must match.
    `text` is a sentence or a passage."""
    if not numbers:
        return {"num": 0.0, "year_conflict": 0.0}
    asked_years = {n for n in numbers if _YEAR.fullmatch(n)}
    years = set(_YEAR.findall(text))
    return {
        "num": len(numbers & set(_NUMBER.findall(text))) / len(numbers),
        "year_conflict": float(bool(asked_years and years and not asked_years & years)),
    }


_WORD = re.compile(r"\S+")


def _fit(pick: Pick, max_words: int, question_terms: set[str]) -> Pick:
    """A sentence longer than an answer may be is cut to the run of words that shares most with
    the question; the quote stays an exact span of the article."""
    words = list(_WORD.finditer(pick.text))
    if len(words) <= max_words:
        return pick
    hits = [bool(set(terms(w.group())) & question_terms) for w in words]
    best = max(range(len(words) - max_words + 1), key=lambda i: sum(hits[i : i + max_words]))
    start, end = words[best].start(), words[best + max_words - 1].end()
    return replace(pick, start=pick.start + start, end=pick.start + end)


def _squash(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _bigrams(seq: list[str]) -> set[tuple[str, str]]:
    return set(zip(seq, seq[1:]))


def _lexical(sentence_terms: set[str], weighted: dict[str, float]) -> float:
    total = sum(weighted.values())
    return sum(w for t, w in weighted.items() if t in sentence_terms) / total if total else 0.0


class ExtractiveAnswerer:
    def __init__(self, settings: AnswerSettings, model: "AnswerModel | None" = None) -> None:
        self.settings = settings
        self.model = model

    def _query_terms(self, question: str, context: str, idf: Callable[[str], float]) -> dict[str, float]:
        weighted = {t: idf(t) for t in terms(question)}
        for t in terms(context):
            weighted.setdefault(t, 0.5 * idf(t))  # history helps, but the question leads
        return weighted

    def features(
        self, question: str, passages: Sequence[Passage], *, snap: "Snapshot", context: str = "", others: Sequence[Passage] = ()
    ) -> list[Pick]:
        """Every sentence of the passages, with its features; support is filled in by `score`."""
        asks = expected_type(question)
        weighted = self._query_terms(question, context, snap.idf)
        common = snap.common_words
        asked = set(weighted)
        pairs = _bigrams(terms(question))
        numbers = set(_NUMBER.findall(question))
        top = max((p.score for p in passages), default=1.0) or 1.0
        top_bm25 = max((p.bm25 for p in passages), default=1.0) or 1.0
        picks = []
        for rank, p in enumerate(passages):
            text = p.stored.article.text
            sentences = p.stored.sentences_of(p.chunk)
            seqs = [terms(text[s.start : s.end]) for _, s in sentences]
            in_passage = _number_features(numbers, p.text)
            sets = [set(t) for t in seqs]
            blocked = not_evidence_of(p.stored, [j for j, _ in sentences])
            for i, (j, s) in enumerate(sentences):
                sentence = text[s.start : s.end]
                if is_question(sentence) or is_heading(sentence) or blocked[i]:
                    continue  # questions and headlines in an article answer nothing; text addressed to AI is no answer
                window = sets[i].union(*sets[max(0, i - 1) : i + 2])
                typed = asks is not None and offers(sentence, asks, question, common)
                f = {
                    "cos": p.sentence_cos.get(j, 0.0),
                    "lex": _lexical(sets[i], weighted),
                    "lex_plain": len(sets[i] & asked) / len(asked) if asked else 0.0,
                    "lex_window": _lexical(window, weighted),
                    "lex_prev": _lexical(sets[i - 1], weighted) if i else 0.0,
                    "offers": float(typed),
                    "lacks": float(asks is not None and not typed),
                    "bigram": len(pairs & _bigrams(seqs[i])) / len(pairs) if pairs else 0.0,
                    **{f"{k}_sentence": v for k, v in _number_features(numbers, sentence).items()},
                    **{f"{k}_passage": v for k, v in in_passage.items()},
                    "passage": p.score / top,
                    "passage_bm25": p.bm25 / top_bm25,
                    "top_passage": float(rank == 0),
                    "short": float(len(tokens(sentence)) < 4),
                    "novelty": len(sets[i] - asked) / len(sets[i]) if sets[i] else 0.0,
                }
                picks.append(Pick(p, j, s.start, s.end, 0.0, f))
        docs: dict[str, str] = {}
        for p in [*passages, *others]:
            docs[p.stored.id] = docs.get(p.stored.id, "") + "\n" + p.text.lower()
        for pk in picks:  # an answer that other articles also put forward is more likely right
            own = pk.passage.stored.id
            offered = candidates(pk.text, asks, question, common)
            patterns = [whole_words(c) for c in offered]
            counts = [sum(bool(p.search(t)) for d, t in docs.items() if d != own) for p in patterns]
            pk.features["consensus"] = max(counts, default=0) / max(1, len(docs) - 1)
        for key in ("cos", "lex"):  # how a sentence compares with the other candidates
            values = sorted((pk.features[key] for pk in picks), reverse=True)
            for pk in picks:
                pk.features[f"{key}_gap"] = pk.features[key] - values[0]
                pk.features[f"{key}_rank"] = 1.0 / (1 + values.index(pk.features[key]))
        for pk in picks:
            pk.features["lex_offers"] = pk.features["lex"] * pk.features["offers"]
        return picks

    def score(
        self, question: str, passages: Sequence[Passage], *, snap: "Snapshot", context: str = "", others: Sequence[Passage] = ()
    ) -> list[Pick]:
        picks = self.features(question, passages, snap=snap, context=context, others=others)
        scored = [Pick(pk.passage, pk.sentence, pk.start, pk.end, support(rank_score(pk.features)), pk.features) for pk in picks]
        return sorted(scored, key=lambda pk: -pk.support)

    def answer(
        self, question: str, passages: Sequence[Passage], *, snap: "Snapshot", context: str = "", others: Sequence[Passage] = (),
        asked: AskedTime = AskedTime(),
    ) -> Draft:
        asks = expected_type(question)
        picks = self.score(question, passages, snap=snap, context=context, others=others)
        if not picks:
            return Draft([], 0.0, True, asks)
        unrelated = self.about_nothing(question, picks, context=context, named_time=asked.period is not None)
        if self.model is not None:
            # a follow-up that names nothing ("According to whom?") is read with the turn it follows up,
            # which the model otherwise never sees; the question first, so truncation cuts the turn's end
            draft = self._answer_with_model(f"{question} {context}" if context else question, picks, asks, unrelated)
        else:
            best = picks[0]
            forced = unrelated or (asks in STRICT and bool(best.features["lacks"]))
            chosen = self._compose_linear(picks, set(terms(question)))
            draft = Draft(chosen, best.support, forced or best.support < self.threshold, asks, forced)
        if draft.abstained:
            return draft
        return self._newest_first(draft, picks, question, [*passages, *others], len(passages), snap, context, asked)

    def about_nothing(self, question: str, picks: Sequence[Pick], *, context: str = "", named_time: bool = False) -> bool:
        """Nothing retrieved is even about the question ("how do I make banana bread?"), or the question
        names nothing to look for ("Where is he from?" with no conversation before it to say who; a
        named time counts, as its words were left out of the question)."""
        names_nothing = not (terms(question) or terms(context) or named_time)
        return names_nothing or max(pk.features["cos"] for pk in picks) < self.settings.min_similarity

    def _newest_first(self, draft: Draft, ranked: list[Pick], question: str, hits: list[Passage], k: int, snap: "Snapshot",
                      context: str, asked: AskedTime) -> Draft:  # fmt: skip
        """News changes: when an article published after the one quoted answers the question too, and
        differently (two mayors, two tolls), the newest report leads and the one it replaces follows as
        context. With "now" in the question ("currently", "latest") the newer answer leads even when it
        agrees. Undated articles count as older than dated ones; without dates nothing changes. A question
        naming a time ("in 2024") prefers reports of that time, then the last before it, then the first after.

        A newer answer needs `update_share` of the abstention threshold (the older report already shows
        that the question is answerable) and at least the share of the question's names and numbers that
        the quoted one has around it (a probability scale differs between models; what a sentence is
        about does not). The answer model asks the newer articles again on their own, so
        the older answer does not outvote them (its support weighs each sentence against the best, and
        the ranker's support among the newer articles alone is higher than among all); the
        linear ranker's support is only comparable within one ranking, so it takes its best newer sentence."""
        lead = max(draft.picks, key=lambda pk: pk.support)
        bar = _timeliness(_day(lead), asked.period)
        newer = [(i, p) for i, p in enumerate(hits) if _timeliness(_day(p), asked.period) < bar]
        if not newer:
            return draft
        if self.model is not None:  # split by position: passages compare by value, stored vectors and all
            top, rest = [p for i, p in newer if i < k], [p for i, p in newer if i >= k]
            passages, others = (top, rest) if top else (rest[:k], rest[k:])
            update = self.answer(question, passages, snap=snap, context=context, others=others, asked=asked)
            best = max(update.picks, key=lambda pk: pk.support) if update.picks and not update.forced else None
        else:
            keys = {(p.stored.id, p.chunk) for _, p in newer}
            update = draft
            best = next((pk for pk in ranked if (pk.passage.stored.id, pk.passage.chunk) in keys), None)
            if best is not None and draft.asks in STRICT and best.features["lacks"]:
                best = None  # "how many": a sentence without a number is no newer count
        if best is None or best.support < self.settings.update_share * self.threshold:
            return draft
        asked_for = anchors(question)
        if _anchored(best, asked_for) < _anchored(lead, asked_for):
            return draft  # a newer report must be about what the question names, as much as the one it replaces
        common = snap.common_words
        was, now = (candidates(pk.text, draft.asks, question, common) for pk in (lead, best))
        changed = bool(was) and bool(now) and was != now
        if not (changed or asked.now):
            return draft
        picks = update.picks[:1] if update is not draft else [_fit(best, self.settings.max_words, set(terms(question)))]
        if changed and self.settings.max_sentences > 1:  # the report it replaces, as context
            older = _fit(lead, self.settings.max_words, set(terms(question)))
            if sum(len(pk.text.split()) for pk in [*picks, older]) <= self.settings.max_words:
                picks.append(older)
        return replace(update, picks=picks, support=max(draft.support, best.support), abstained=False)

    @property
    def threshold(self) -> float:
        """The support below which it abstains."""
        if self.model is None:
            return self.settings.abstain_threshold
        t = self.settings.model_threshold
        return self.model.abstention.threshold if t is None else t

    def pool(self, picks: list[Pick]) -> list[Pick]:
        """The sentences the answer model reads: the ranker's best, then the most similar to the
        question (a paraphrase that shares no words with it, "Who heads ...?" / "... is led by ...",
        ranks low on words alone); syndicated copies of one sentence once."""
        n = self.settings.model_candidates
        pool: list[Pick] = []
        seen: set[str] = set()
        by_cos = sorted(picks, key=lambda pk: -pk.features["cos"])
        for pk in [*picks[: max(1, n - _BY_SIMILARITY)], *by_cos]:
            key = _squash(pk.text)
            if key not in seen:
                seen.add(key)
                pool.append(pk)
            if len(pool) >= n:
                break
        return pool

    def model_features(self, question: str, picks: list[Pick]) -> tuple[list[Pick], list[dict[str, float]]]:
        """The pool and, for each of its sentences, what the abstention classifier reads. The model reads
        each sentence on its own; the share of "none" and the linear ranker's support (`picks`' support:
        its gaps to the best candidate, passage ranks and what other articles agree on) compare it with
        the rest, so articles beside it can move its score (the gold suite beside 988 rgb snippets read 0.792
        against 0.844 alone until the idf had a background prior, qa.index.background; 0.857 and 0.870 since)."""
        model = self.model
        pool = self.pool(picks)
        whole = [pk.candidate(with_next=True) for pk in pool]  # built once: the anchors read the next sentence too
        z = model.logits(question, whole if model.with_next else [replace(c, next="") for c in whole])
        asked = anchors(question)
        extra = [
            {"cos": pk.features["cos"], "lex": pk.features["lex"], "lex_window": pk.features["lex_window"],
             "anchors": _anchor_share(c, asked),
             "no_anchors": float(not asked), "offers": pk.features["offers"], "lacks": pk.features["lacks"],
             "ranker": pk.support}
            for pk, c in zip(pool, whole)
        ]  # fmt: skip
        return pool, candidate_features(z, model.none_logit, extra)

    def judged(self, question: str, picks: list[Pick]) -> list[Pick]:
        """The pool, each sentence's support the calibrated probability that it is a right answer, best first."""
        pool, features = self.model_features(question, picks)
        judge = self.model.abstention
        scored = [replace(pk, support=judge.probability(f), features={**pk.features, **{f"m_{k}": v for k, v in f.items()}})
                  for pk, f in zip(pool, features)]  # fmt: skip
        return sorted(scored, key=lambda pk: -pk.support)

    def _answer_with_model(self, question: str, picks: list[Pick], asks: AnswerType | None, unrelated: bool) -> Draft:
        ranked = self.judged(question, picks)
        if asks in STRICT:  # "when"/"how many": a sentence without a date or number cannot answer
            ranked = sorted(ranked, key=lambda pk: pk.features["lacks"])  # stable: the model's order otherwise
        threshold = self.threshold
        best = ranked[0]
        forced = unrelated or (asks in STRICT and bool(best.features["lacks"]))
        chosen = self._compose(ranked, set(terms(question)), threshold)
        return Draft(chosen, best.support, forced or best.support < threshold, asks, forced)

    def _compose(self, ranked: list[Pick], question_terms: set[str], threshold: float) -> list[Pick]:
        """One sentence, unless two are needed: the sentence before it when the best opens with a
        pronoun that sentence resolves ("He ..."; it then comes first), a second that answers on its
        own with at least `second_support`, or, when the best is unsure, a runner-up nearly as likely
        (the abstention file's `runner_up`, fitted on held-apart training articles)."""
        s = self.settings
        best = _fit(ranked[0], s.max_words, question_terms)
        words = len(best.text.split())
        if s.max_sentences < 2:
            return [best]
        if _PRONOUN.match(best.text) and (before := best.previous()) is not None:
            if words + len(before.text.split()) <= s.max_words:
                return [before, best]
        judge = self.model.abstention
        for pick in ranked[1:_SECOND_LOOKAHEAD]:
            if pick.support < max(threshold, s.second_support) and not judge.runner_up(best.support, pick.support, threshold):
                break
            if _squash(pick.text) != _squash(best.text) and words + len(pick.text.split()) <= s.max_words:
                return [best, pick]
        return [best]

    def _compose_linear(self, picks: list[Pick], question_terms: set[str]) -> list[Pick]:
        """The linear ranker's answer: the best sentence, then the next strongest that fits the length
        limit, in article order. It keeps its second sentence: on its own, its best sentence is right
        less often (gold suite 0.662 -> 0.597 with one sentence), which the trained model fixes."""
        s = self.settings
        chosen = [_fit(picks[0], s.max_words, question_terms)]
        words = len(chosen[0].text.split())
        seen = {_squash(picks[0].text)}
        for pick in picks[1 : 1 + _SECOND_LOOKAHEAD]:
            if len(chosen) >= s.max_sentences:
                break
            if _squash(pick.text) in seen:
                continue  # syndicated copies of one sentence say nothing new
            if words + len(pick.text.split()) <= s.max_words:
                chosen.append(pick)
                words += len(pick.text.split())
        first = chosen[0].passage
        return sorted(chosen, key=lambda pk: (pk.passage is not first, pk.passage.stored.id, pk.passage.chunk, pk.start))
