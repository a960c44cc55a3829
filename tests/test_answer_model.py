"""The shipped answer model: it loads offline from the repository without torch, its weights are the
ones the model card names, and it orders a few fixed (question, sentence) pairs as an answer model must."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from qa import backends
from qa.answer.abstention import FEATURES, FILE
from qa.answer.model import MODEL_DIR, ONNX_FILE, WEIGHTS_FILE, Candidate
from qa.models.files import sha256
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
    record = json.loads((MODEL_DIR / "training.json").read_text(encoding="utf-8"))
    for name, key in ((ONNX_FILE, "onnx_sha256"), (WEIGHTS_FILE, "weights_sha256")):
        path = MODEL_DIR / name
        assert path.stat().st_size <= 50 * 1024 * 1024, name
        assert sha256(path) == record[key], name
        stated = re.search(rf"{re.escape(name)} sha256 \| `([0-9a-f]{{64}})`", card)
        assert stated and stated.group(1) == record[key], f"the model card must state {name}'s sha256"
    assert record["layers"] == 6
    for field in ("all-MiniLM-L6-v2", "Apache-2.0", "CC BY-SA 4.0", "python -m evals.train_answer_model", "seed", "--resume"):
        assert field in card
    fitted = json.loads((MODEL_DIR / FILE).read_text(encoding="utf-8"))["fitted_on"]
    fit = re.search(r"python -m evals.fit_abstention(.*?)#", card).group(1).split()
    # the card's fit command is the one that made abstention.json
    assert (f"{fitted['padded']}" if fitted.get("padded") else None) == (fit[fit.index("--padded") + 1] if "--padded" in fit else None)
    assert fitted.get("room", False) == ("--room" in fit)


def test_abstention_is_fitted_and_shipped():
    fitted = json.loads((MODEL_DIR / FILE).read_text(encoding="utf-8"))
    assert set(fitted["weights"]) == set(FEATURES)
    assert 0.0 < fitted["threshold"] < 1.0
    # for the best candidate, logit and margin rise together: a higher logit means a likelier answer
    assert fitted["weights"]["z"] + fitted["weights"]["margin"] > 0
    assert fitted["fit"]["false_abstention"] <= fitted["fitted_on"]["max_false_abstention"] + 1e-9


def test_answering_never_imports_torch():
    """The question path runs on onnxruntime alone: loading and scoring leave torch unimported."""
    code = (
        "import sys; from qa import backends; from qa.config import AnswerSettings; "
        "m = backends.answer_model(AnswerSettings(model='trained')); m.scores('who leads it?', []); m.warm_up(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


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
        assert leader > previous > flood, question  # the answer first, the same-topic sentence next, the flood last
        assert flood < 0.05, question


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


def test_a_sentence_scores_the_same_whatever_is_scored_beside_it(model):
    """Int8 activations are scaled over everything in one pass: batched, a sentence scored up to 0.4
    logits apart from itself alone, so an unrelated article could move an answer across the threshold."""
    long = Candidate("The operator said about 800 passengers were affected by the strike, which lasted "
                     "many hours and delayed every route along the coast for the rest of the week.", "Ferry strike", "")  # fmt: skip
    alone = model.logits("Who leads ISIS-K?", [LEADER])[0]
    for beside in ([FLOOD], [long], [long, FLOOD, PREVIOUS]):
        assert model.logits("Who leads ISIS-K?", [LEADER, *beside])[0] == alone
        assert model.logits("Who leads ISIS-K?", [*beside, LEADER])[-1] == alone


def test_abstention_reads_names_and_numbers_as_whole_words():
    from qa.answer.abstention import anchor_share, anchors

    asked = anchors("When did Biden visit Kabul in 2021?")
    assert asked == {"biden", "kabul", "2021"}  # "When" opens the question: it names nothing
    assert anchor_share(asked, "Biden flew to Kabul in 2021.") == 1.0
    assert anchor_share(asked, "Bidenomics came to Kabulistan in 20210.") == 0.0
    assert anchor_share(set(), "anything") == 1.0


def test_an_unsure_best_sentence_brings_its_runner_up():
    """Two plausible sentences, each cited, rather than a coin toss between them; a sure best stands alone."""
    from qa.answer.abstention import Abstention

    judge = Abstention({k: 0.0 for k in FEATURES}, 0.0, 0.1, unsure=0.7, share=0.5)
    assert judge.runner_up(0.6, 0.35, 0.1)
    assert not judge.runner_up(0.6, 0.25, 0.1)  # under half the best's probability
    assert not judge.runner_up(0.6, 0.35, 0.4)  # under the abstention threshold
    assert not judge.runner_up(0.8, 0.75, 0.1)  # the best is sure
    assert not Abstention({k: 0.0 for k in FEATURES}, 0.0, 0.1).runner_up(0.2, 0.19, 0.1)  # never, unless fitted


def test_the_runner_up_rule_is_fitted_within_its_padding():
    """The fit picks the most accurate rule whose padding (a second sentence that holds no answer) stays in bounds."""
    import numpy as np

    from evals.fit_abstention import Row, runner_up_for

    def row(best: float, second: float, best_right: bool, second_right: bool) -> Row:
        logit = lambda p: np.log(p / (1 - p))  # noqa: E731
        x = np.zeros((2, len(FEATURES)))
        x[:, 0] = [logit(best), logit(second)]
        return Row(None, "a", "answerable", x, np.array([best_right, second_right], dtype=float), np.zeros(2, bool), False)

    # unsure bests are wrong half the time and their runner-ups then right; sure ones are right
    rows = [row(0.5, 0.4, i % 2 == 0, i % 2 == 1) for i in range(20)] + [row(0.95, 0.5, True, False) for _ in range(20)]
    w = np.zeros(len(FEATURES) + 1)
    w[0] = 1.0
    rule = runner_up_for(rows, w, 0.1, max_padding=0.25)
    assert rule["one_sentence_accuracy"] == 0.75 and rule["accuracy"] == 1.0
    assert rule["padding"] == 0.25 and rule["two_sentences"] == 0.5  # the unsure half only: sure bests stand alone
    assert 0.5 < rule["unsure"] <= 0.95 and rule["share"] <= 0.7
    assert runner_up_for(rows, w, 0.1, max_padding=0.2)["unsure"] == 0.0  # half the pairs would pad: never


def test_the_classifier_reads_the_rankers_support(trained_engine_features):
    """Every candidate's "ranker" feature is the linear ranker's own support for that sentence."""
    picks, pool, features = trained_engine_features
    support = {(pk.passage.stored.id, pk.start): pk.support for pk in picks}
    assert len(features) == len(pool) > 1 and all(set(f) == set(FEATURES) for f in features)
    assert [f["ranker"] for f in features] == [support[(pk.passage.stored.id, pk.start)] for pk in pool]


@pytest.fixture
def trained_engine_features(tmp_path, embed_model):
    from qa.config import Settings
    from qa.engine import RANK_DEPTH, QAEngine
    from tests.support.helpers import CORPUS

    engine = QAEngine(Settings(data_dir=tmp_path / "d"), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    question, snap, k = "Who leads ISIS-K?", engine.library.snapshot(), engine.settings.retrieval.top_k
    hits = engine.retriever(snapshot=snap, top_k=RANK_DEPTH, exact_top=k).passages(question)
    picks = engine.answerer.score(question, hits[:k], snap=snap, others=hits[k:])
    pool, features = engine.answerer.model_features(question, picks)
    return picks, pool, features


def test_padding_adds_a_wrong_sentences_words_and_keeps_the_question():
    """The second training stage's questions: one to three words of a sentence that does not answer, at
    the end or inside, every word of the question kept, the same padding for the same seed."""
    import random

    from evals.train_answer_model import distract

    question = "Who leads the group?"
    other = "Worryingly, ISIS-K are believed to have a hostile relationship with the Taliban."
    padded = [distract(question, other, random.Random(seed)) for seed in range(40)]
    assert padded == [distract(question, other, random.Random(seed)) for seed in range(40)]
    for p in padded:
        words = re.findall(r"[\w'-]+", p)
        added = [w for w in words if w not in {"Who", "leads", "the", "group", "in", "of", "with", "that"}]
        assert p.endswith("?") and 1 <= len(added) <= 5 and all(w in other for w in added), p
        assert [w for w in words if w in {"Who", "leads", "group"}] == ["Who", "leads", "group"], p
    assert len(set(padded)) > 10  # where and what varies
    assert distract(question, "The group leads.", random.Random(0)) == question  # nothing of its own to add


def test_the_threshold_keeps_its_room_below_the_false_abstention_bound():
    """At the bound itself, half of new samples cross it; `room` keeps one standard error below it, on every
    kind of wording asked (kinds not asked, here "padded", bind nothing)."""
    import numpy as np

    from evals.fit_abstention import Row, measure, threshold_for

    def decided(kind: str, p: float) -> tuple:
        return (Row(None, "a", kind, np.zeros((1, len(FEATURES))), np.ones(1), np.zeros(1, bool), False), p, False, True)

    rows = [decided("answerable", (i + 0.5) / 400) for i in range(400)] + [decided("reworded", (i + 0.5) / 100) for i in range(100)]
    rows.append(decided("missing", 0.0))
    at_bound = threshold_for(rows, 0.10)
    roomy = threshold_for(rows, 0.10, room=True)
    assert measure(rows, at_bound)["false_abstention_reworded"] <= 0.10 < measure(rows, at_bound + 0.005)["false_abstention_reworded"]
    assert roomy < at_bound and measure(rows, roomy)["false_abstention_reworded"] <= 0.10 - 0.03  # sqrt(0.09 / 100)
    assert "false_abstention_padded" not in measure(rows, roomy)


def test_pool_groups_target_the_answer_in_its_own_article(tmp_path, embed_model):
    """evals.answer_pools: the group holds the sentences the answerer would score; the target is the one of
    the question's own article that holds the answer; another article's sentence that happens to hold the
    answer text is left out (neither right nor wrong); an unanswerable question's target is "none"."""
    from evals.answer_pools import groups
    from evals.benchmarks import Case
    from evals.train_answer_model import NONE
    from qa.config import Settings
    from qa.engine import QAEngine
    from qa.schemas import Article

    engine = QAEngine(Settings(data_dir=tmp_path / "d"), embed_model=embed_model)
    engine.library.add([
        Article(id="ferry", title="Ferry strike", text="The ferry strike began on Monday. Crews want higher pay. "
                "The strike was called by the union leader Mara Holt. Talks resume next week.", source="test"),
        Article(id="union", title="Union vote", text="Mara Holt was elected to lead the dockers' union in May. "
                "Turnout was low. The vote was held by post.", source="test"),
    ])  # fmt: skip
    asked = [("answerable", Case("q1", "Who called the ferry strike?", ["Mara Holt"], frozenset(["ferry"]))),
             ("missing", Case("q2", "How much does a ferry ticket cost?", []))]
    made = {g.question: g for g in groups(engine, asked)}
    ferry = made["Who called the ferry strike?"]
    assert ferry.kind == "answerable" and ferry.target != NONE
    assert ferry.candidates[ferry.target].sentence == "The strike was called by the union leader Mara Holt."
    assert not any(c.sentence.startswith("Mara Holt was elected") for c in ferry.candidates)
    assert len(ferry.candidates) >= 2 and made["How much does a ferry ticket cost?"].target == NONE
