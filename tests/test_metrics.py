"""The eval metrics on small hand-made cases whose right values are worked out by hand."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    Outcome,
    answer_size,
    contains_answer,
    normalize,
    percentile,
    reciprocal_rank,
    summarize,
    sweep,
    token_f1,
    within_limits,
)


def test_squad_normalisation():
    assert normalize("The  Eiffel Tower, in Paris!") == "eiffel tower in paris"
    assert normalize("An apple a day") == "apple day"
    assert normalize("“Quoted” – text") == "quoted text"


def test_contains_answer_after_normalisation():
    assert contains_answer("It was built by Gustave Eiffel's company.", ["gustave eiffel"])
    assert contains_answer("Between 500 and 1,200 fighters [1]", ["500 and 1,200"])
    assert not contains_answer("It was built in Paris.", ["London", "Rome"])
    assert not contains_answer("anything", [""])  # an empty gold answer matches nothing


def test_token_f1_takes_the_best_gold_answer():
    # pred {the(dropped), cat, sat}: against "cat sat on mat" precision 2/2, recall 2/4 -> 2/3
    assert token_f1("The cat sat", ["cat sat on mat", "dog"]) == pytest.approx(2 / 3)
    assert token_f1("nothing shared", ["cat"]) == 0.0


def test_answer_size_ignores_markers_and_abbreviations():
    assert answer_size("The U.S. Army left at 5 p.m. on Tuesday. [1] Then it rained. [2]") == (2, 12)
    assert within_limits("One. [1] Two. [2]")
    assert not within_limits("One. Two. Three. [1]")
    assert not within_limits(" ".join(["word"] * 76) + ". [1]")
    assert within_limits(" ".join(["word"] * 75) + ". [1]")


def test_ranks_and_percentiles():
    assert reciprocal_rank(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a"], {"z"}) == 0.0
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 95) == 95
    assert math.isnan(percentile([], 50))


def _o(answers, ranked, answer, *, abstained=False, quotes=(), cited=(), gold=("g",), latency=10.0, support=0.5):
    return Outcome(
        answers=tuple(answers), gold_docs=frozenset(gold if answers else ()), ranked_docs=tuple(ranked), answer=answer,
        abstained=abstained, quotes=tuple(quotes), cited_docs=tuple(cited), latency_ms=latency, support=support,
        candidate=answer if not abstained else "Paris is big. [1]",
    )  # fmt: skip


CASES = [
    # right, gold article first, one precise quote
    _o(["Paris"], ["g", "x"], "Paris is the capital. [1]", quotes=["Paris is the capital."], cited=["g"], latency=10, support=0.9),
    # right but retrieved second; two quotes, one precise
    _o(["Paris"], ["x", "g"], "It rains. [1] Paris is big. [2]", quotes=["It rains.", "Paris is big."], cited=["x", "g"], latency=20, support=0.6),
    # wrong answer, gold article missing
    _o(["Paris"], ["x", "y"], "London is big. [1]", quotes=["London is big."], cited=["x"], latency=30, support=0.4),
    # answerable but abstained: a false abstention
    _o(["Paris"], ["g"], "The articles don't say.", abstained=True, latency=40, support=0.2),
    # unanswerable: one abstained (right), one answered (wrong)
    _o([], ["x"], "The articles don't say.", abstained=True, latency=50, support=0.1),
    _o([], ["x"], "Something. [1]", quotes=["Something."], cited=["x"], latency=60, support=0.7),
]


def test_summarize_by_hand():
    m = summarize(CASES)
    assert (m.answerable, m.unanswerable) == (4, 2)
    assert m.recall_at_1 == pytest.approx(2 / 4)  # cases 1 and 4 rank the gold article first
    assert m.recall_at_5 == pytest.approx(3 / 4)
    assert m.mrr == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert m.answer_accuracy == pytest.approx(2 / 4)
    assert m.citation_precision == pytest.approx(2 / 4)  # quotes of answered answerable cases: 2 of 4 hold "Paris"
    assert m.first_citation_in_gold == pytest.approx(1 / 4)
    assert m.abstention_precision == pytest.approx(1 / 2)
    assert m.abstention_recall == pytest.approx(1 / 2)
    assert m.false_abstention_rate == pytest.approx(1 / 4)
    assert m.latency_p50_ms == 30 and m.latency_p95_ms == 60
    assert m.quote_f1 == pytest.approx((0.5 + 0.5 + 0 + 0) / 4)  # "paris is capital", "paris is big" vs "paris"


def test_an_answer_too_long_is_wrong_even_with_the_gold_answer():
    padded = _o(["Paris"], ["g"], "One. [1] Two. [2] Paris. [3]", quotes=["One.", "Two.", "Paris."], cited=["g"] * 3)
    assert not padded.correct
    assert summarize([padded]).answer_accuracy == 0.0


def test_sweep_recomputes_abstention_at_other_thresholds():
    low, high = sweep(CASES, [0.0, 0.65])
    # threshold 0: only the case that abstained for another reason (none here) would abstain
    assert low["false_abstention_rate"] == 0.0 and low["abstention_recall"] == 0.0
    # the abstained answerable case would have said "Paris is big." and been right
    assert low["answer_accuracy"] == pytest.approx(3 / 4)
    # at 0.65 every answerable case but the first abstains; the unanswerable one at 0.7 still answers
    assert high["false_abstention_rate"] == pytest.approx(3 / 4)
    assert high["abstention_recall"] == pytest.approx(1 / 2)
    assert high["answer_accuracy"] == pytest.approx(1 / 4)
