"""Extractive answers on the user's article: right sentence, exact offsets, abstention, follow-ups."""

from __future__ import annotations

import pytest

from qa.answer.extractive import ABSTAIN_TEXT
from qa.engine import QAEngine
from qa.schemas import Answer, Turn
from tests.support.helpers import write

FLOOD = """Floods kill 12 in northern valley

Heavy rain sent floodwater through three villages in the northern valley on Monday, officials said.

At least 12 people were killed and dozens more are missing, according to the regional governor.

The governor said rescue teams had reached two of the villages by boat.
"""


def assert_grounded(engine: QAEngine, answer: Answer) -> None:
    assert not answer.abstained and answer.citations
    for c in answer.citations:
        text = engine.library.document(c.doc_id).article.text
        assert text[c.start : c.end] == c.quote
        assert text[c.passage_start : c.passage_end] == c.passage and c.quote in c.passage
        assert f"[{c.id}]" in answer.answer


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("who leads ISIS-K?", "Shahab al-Muhajir"),
        ("What does the K in ISIS-K stand for?", "Khorasan"),
        ("How many fighters does ISIS-K have?", "between 500 and 1,200 fighters"),
        ("What happened at the maternity hospital?", "killed 24 people"),
        ("Who is Jake Sullivan?", "national security adviser"),
    ],
)
def test_key_questions(corpus_engine: QAEngine, question: str, expected: str) -> None:
    answer = corpus_engine.ask(question)
    assert expected in answer.answer, answer.answer
    assert any(expected in c.quote for c in answer.citations)
    assert_grounded(corpus_engine, answer)
    assert set(answer.timings_ms) >= {"retrieve", "answer", "total"}


@pytest.mark.parametrize("question", ["What is the capital of France?", "Who won the 2018 football World Cup?"])
def test_unanswerable_abstains(corpus_engine: QAEngine, question: str) -> None:
    answer = corpus_engine.ask(question)
    assert answer.abstained and answer.answer == ABSTAIN_TEXT and not answer.citations


def test_follow_up_uses_the_same_passage(corpus_engine: QAEngine) -> None:
    first = corpus_engine.ask("Who leads ISIS-K?")
    history = [Turn(role="user", content=first.question), Turn(role="assistant", content=first.answer)]
    follow = corpus_engine.ask("Where is he from?", history=history)
    assert "Iraqi" in follow.answer
    assert "Iraqi" in follow.citations[0].quote
    # the pronoun is replaced by whom it refers to, so the answer is to the new question
    assert follow.resolved_question == "Where is Shahab al-Muhajir from?"
    assert_grounded(corpus_engine, follow)
    # the same words with nothing before them name no one: no guess at who "he" is
    alone = corpus_engine.ask("Where is he from?")
    assert alone.abstained and alone.answer == ABSTAIN_TEXT, alone.answer
    # a question of no words of its own still leans on the conversation before it
    first = corpus_engine.ask("What did the UN estimate about the number of ISIS-K fighters?")
    history = [Turn(role="user", content=first.question), Turn(role="assistant", content=first.answer)]
    whom = corpus_engine.ask("According to whom?", history=history)
    assert "1,200" in first.answer and not whom.abstained and "United Nations" in whom.answer, whom.answer


def test_page_furniture_is_never_an_answer(corpus_engine: QAEngine) -> None:
    text = corpus_engine.library.document("isis-k-explainer").article.text
    assert "sign-up" not in text and "Read Full Article" not in text
    for question in ("How can I unsubscribe?", "Where can I read the full article?", "What is the source?"):
        answer = corpus_engine.ask(question)
        assert all("unsubscribe" not in c.quote and "Read Full" not in c.quote for c in answer.citations)


def test_answer_json_contract(corpus_engine: QAEngine) -> None:
    data = corpus_engine.ask("who leads ISIS-K?").model_dump(mode="json")
    assert {"question", "answer", "abstained", "mode", "citations", "timings_ms"} <= data.keys()
    assert data["mode"] == "extractive"
    citation = data["citations"][0]
    assert {"id", "doc_id", "title", "source", "url", "quote", "start", "end", "passage", "score"} <= citation.keys()
    assert citation["doc_id"] == "isis-k-explainer" and citation["source"].endswith("corpus/isis-k-explainer.txt")
    assert citation["title"].startswith("Who are ISIS-K?")


def test_an_unrelated_article_changes_no_answer(corpus_engine: QAEngine, tmp_path) -> None:
    questions = ["Who leads ISIS-K?", "How many fighters does ISIS-K have?", "Who is Jake Sullivan?", "When was ISIS-K founded?"]
    before = [corpus_engine.ask(q).answer for q in questions]
    corpus_engine.library.ingest([write(tmp_path / "news" / "flood.txt", FLOOD)])
    assert [corpus_engine.ask(q).answer for q in questions] == before
    flood = corpus_engine.ask("Was anyone killed in the floods?")
    assert "12 people were killed" in flood.answer
    assert flood.citations[0].doc_id == "flood"
    assert_grounded(corpus_engine, flood)


def test_unrelated_articles_leave_every_gold_answer_first_quote_unchanged(corpus_engine: QAEngine, tmp_path) -> None:
    """Eight short stories on other subjects added beside the article: each gold question's first quote
    stays. (The linear ranker fails this: its word weights shift and 'how many attacks ... against US,
    Pakistani and Afghan forces' quotes another sentence first.) A question whose best sentence sits at
    the abstention threshold may tip either way: the retrieval scores the classifier reads are normalised
    over the passages found, so its support moves by about 0.002 (0.1045 -> 0.1058, when the threshold was 0.105)."""
    from evals.gold import load as load_suite
    from tests.support.articles import UNRELATED

    suite = load_suite()
    questions = [c.turns[0].question for c in suite.cases if len(c.turns) == 1 and c.turns[0].answers]
    assert len(questions) >= 30

    threshold = corpus_engine.answerer.threshold

    def first_quotes() -> list[str | None]:
        out = []
        for q in questions:
            trace = corpus_engine.trace(q)
            if abs(trace.support - threshold) < 0.005:
                out.append("at the threshold: " + (trace.candidate or ""))
            else:
                out.append(trace.answer.citations[0].quote if trace.answer.citations else None)
        return out

    before = first_quotes()
    assert sum(q is not None for q in before) >= 0.6 * len(questions)
    for name, text in UNRELATED.items():
        write(tmp_path / "news" / f"{name}.txt", text)
    corpus_engine.library.ingest([tmp_path / "news"])
    assert len(corpus_engine.library.documents()) == 1 + len(UNRELATED)
    after = first_quotes()
    changed = [(q, b, a) for q, b, a in zip(questions, before, after) if b != a]
    assert not changed, changed


CHIEF = """New fire chief named for Halden

The city council appointed Dana Reyes as Halden's new fire chief on Monday.

She previously led the fire service in Corran for nine years. The council said the appointment would take effect in March.
"""


def test_each_citation_quotes_exactly_one_sentence(corpus_engine: QAEngine) -> None:
    for question in ("who leads ISIS-K?", "What does the K in ISIS-K stand for?", "Who is Jake Sullivan?"):
        answer = corpus_engine.ask(question)
        stored = corpus_engine.library.document(answer.citations[0].doc_id)
        spans = [(s.start, s.end) for s in stored.layout.sentences]
        for c in answer.citations:  # a quote never runs over a sentence end, so its highlight is the evidence
            assert any(s <= c.start and c.end <= e for s, e in spans), (question, c.quote)


@pytest.fixture
def trained_engine(tmp_path, embed_model) -> QAEngine:
    """The trained answer model, which quotes one sentence unless two are needed."""
    from qa.config import AnswerSettings, Settings
    from tests.support.helpers import CORPUS

    engine = QAEngine(Settings(data_dir=tmp_path / "trained", answer=AnswerSettings(model="trained")), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    return engine


def test_one_sentence_answers_the_leader(trained_engine: QAEngine) -> None:
    answer = trained_engine.ask("who leads ISIS-K?")
    assert len(answer.citations) == 1 and "Shahab al-Muhajir" in answer.citations[0].quote, answer.answer


def test_a_pronoun_brings_the_sentence_that_resolves_it_first(trained_engine: QAEngine, tmp_path) -> None:
    trained_engine.library.ingest([write(tmp_path / "news" / "chief.txt", CHIEF)])
    answer = trained_engine.ask("Where did the new fire chief of Halden work before?")
    quotes = [c.quote for c in answer.citations]
    assert len(quotes) == 2 and quotes[1].startswith("She previously led"), quotes
    assert "Dana Reyes" in quotes[0]
    assert answer.answer.index("Dana Reyes") < answer.answer.index("She previously")
