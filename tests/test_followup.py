"""Follow-ups without an LLM: pronouns are replaced by what they refer to before retrieval."""

from __future__ import annotations

import pytest

from qa.answer.followup import resolve
from qa.schemas import Turn

LEADER = "The group is led by an Iraqi militant called Shahab al-Muhajir. [1]"
HOSPITAL = "One attack at a maternity hospital in Kabul last year killed 24 people including mothers and newborns. [1]"
BIDEN = "On Tuesday, US President Joe Biden warned of a potential terror attack by ISIS-K. [1]"
SULLIVAN = "Jake Sullivan, Joe Biden\u2019s national security adviser, said the threat of an ISIS-K attack is real. [1]"


def _history(*exchanges: tuple[str, str]) -> list[Turn]:
    out = []
    for q, a in exchanges:
        out += [Turn(role="user", content=q), Turn(role="assistant", content=a)]
    return out


@pytest.mark.parametrize(
    ("exchanges", "question", "resolved"),
    [
        ((("Who leads ISIS-K?", LEADER),), "Where is he from?", "Where is Shahab al-Muhajir from?"),
        ((("Who leads ISIS-K?", LEADER), ("Where is he from?", LEADER)),
         "and what happened to the people who led it before him",
         "and what happened to the people who led ISIS-K before Shahab al-Muhajir"),
        ((("How many people died in the maternity hospital attack?", HOSPITAL),), "Where was it?",
         "Where was the maternity hospital attack?"),
        ((("How many people died in the maternity hospital attack?", HOSPITAL),), "when did that happen",
         "when did the maternity hospital attack happen"),
        # the person the question named comes before one its answer mentions
        ((("Who is Jake Sullivan?", SULLIVAN),), "How did he describe the threat?", "How did Jake Sullivan describe the threat?"),
        # a title is not part of the name; a possessive stays one
        ((("Who warned on Tuesday about a potential ISIS-K attack?", BIDEN),), "Who is his adviser?",
         "Who is Joe Biden's adviser?"),
        ((("What's the relationship between ISIS-K and the Taliban like?", "Hostile. [1]"),),
         "what are they competing for", "what are ISIS-K and Taliban competing for"),
        # a name the question already has is not put in again
        ((("What's the relationship between ISIS-K and the Taliban like?", "Hostile. [1]"),),
         "Have the Taliban killed any of its members?", "Have the Taliban killed any of ISIS-K's members?"),
    ],
)  # fmt: skip
def test_pronouns_are_replaced_by_their_referents(exchanges, question, resolved):
    r = resolve(question, _history(*exchanges))
    assert r.question == resolved
    assert r.context == ""


def test_standalone_questions_are_left_alone():
    history = _history(("Who leads ISIS-K?", LEADER))
    assert resolve("Who is the leader of the Taliban?", history) == (("Who is the leader of the Taliban?", ""))
    assert resolve("Where is he from?", []) == ("Where is he from?", "")


def test_an_ellipsis_with_nothing_to_replace_is_searched_with_the_last_exchange():
    history = _history(("How many attacks on Afghan civilians did ISIS-K carry out?", "Approximately 100 attacks. [1]"))
    r = resolve("and how many on US forces?", history)
    assert r.question == "and how many on US forces?"
    assert "Afghan civilians" in r.context and "Approximately 100" in r.context and "[1]" not in r.context
