"""The shipped answer model: it loads offline from the repository, its weights are the ones the model
card names, and it orders a few fixed (question, sentence) pairs as an answer model must."""

from __future__ import annotations

import re
import socket

import pytest

from qa import backends
from qa.answer.model import MODEL_DIR, WEIGHTS_FILE, Candidate
from qa.backends import sha256
from qa.config import AnswerSettings

TITLE = "Who are ISIS-K? Offshoot terror group threatening to attack in Afghanistan"
LEADER = Candidate(
    "The group is led by an Iraqi militant called Shahab al-Muhajir.", TITLE,
    "Approximately 100 attacks on Afghan civilians took place between 2015 and 2017 at the hands of ISIS-K.",
)  # fmt: skip
PREVIOUS = Candidate(
    "Previous leaders have been killed or captured by US and Afghan forces.", TITLE, LEADER.sentence
)
FLOOD = Candidate("Floods in the north of the country have cut off three villages.", "Heavy rain floods valleys", "")


@pytest.fixture(scope="module")
def model():
    return backends.answer_model(AnswerSettings(model="trained"))


def test_weights_match_the_model_card():
    card = (MODEL_DIR / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"sha256[^`]*`([0-9a-f]{64})`", card)
    assert stated, "the model card must state the weights' sha256"
    weights = MODEL_DIR / WEIGHTS_FILE
    assert weights.stat().st_size <= 50 * 1024 * 1024
    assert sha256(weights) == stated.group(1)
    for field in ("all-MiniLM-L6-v2", "Apache-2.0", "CC BY-SA 4.0", "python -m evals.train_answer_model", "seed"):
        assert field in card


def test_loads_offline(monkeypatch):
    """No socket is opened while the model loads and scores: everything comes from the repository."""

    def refuse(*args, **kwargs):
        raise AssertionError("the answer model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from qa.answer.model import AnswerModel

    fresh = AnswerModel(MODEL_DIR)
    assert 0.0 <= fresh.scores("who leads ISIS-K?", [LEADER])[0] <= 1.0


def test_paraphrases_find_the_answer_sentence(model):
    for question in ("Who leads ISIS-K?", "Who heads ISIS-K?", "Who is in charge of ISIS-K?", "who runs isis-k"):
        leader, previous, flood = model.scores(question, [LEADER, PREVIOUS, FLOOD])
        assert leader > 0.5, question
        assert leader > previous > flood or leader > flood > previous, question


def test_it_says_no_when_the_sentence_does_not_answer(model):
    leader_q, taliban_q, founded_q = (model.scores(q, [LEADER])[0] for q in (
        "Who leads ISIS-K?", "Who leads the Taliban?", "When was ISIS-K founded?"))  # fmt: skip
    assert taliban_q < leader_q and founded_q < leader_q
    assert founded_q < 0.5
    assert model.scores("Was anyone killed in the floods?", [LEADER])[0] < 0.5


def test_context_names_what_the_sentence_is_about(model):
    """"The group" is ISIS-K only through the title: without it the sentence answers less surely."""
    with_title = model.scores("Who leads ISIS-K?", [LEADER])[0]
    without = model.scores("Who leads ISIS-K?", [Candidate(LEADER.sentence, "Floods in the north", "")])[0]
    assert with_title > without
