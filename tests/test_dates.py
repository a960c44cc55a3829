"""Time in answers (issue 23, part 2): the newest report first when articles disagree, "As of" from the
dates (never written into a quote), questions that name a time, and the dated gold suite's floors."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from evals import runner
from qa.answer.periods import asked_time
from qa.config import AnswerSettings, Settings
from qa.engine import QAEngine, answer_text
from qa.schemas import Citation
from qa.text import strip_markers

DATED = Path(__file__).resolve().parents[1] / "evals" / "dated"
SUITE = DATED.parent / "gold-dated.json"
TODAY = dt.date(2026, 6, 15)


@pytest.mark.parametrize(
    ("question", "since", "until", "now"),
    [
        ("Who was the mayor in 2024?", dt.date(2024, 1, 1), dt.date(2024, 12, 31), False),
        ("what did the toll stand at as of March 2025", dt.date(2025, 3, 1), dt.date(2025, 3, 31), False),
        ("Who ran the company before 2025?", None, dt.date(2024, 12, 31), False),
        ("Who has run it since 2023?", dt.date(2023, 1, 1), None, False),
        ("Who has run it after 2023?", dt.date(2024, 1, 1), None, False),
        ("How many died last year?", dt.date(2025, 1, 1), dt.date(2025, 12, 31), False),
        ("Who won this year?", dt.date(2026, 1, 1), dt.date(2026, 12, 31), True),
        ("What happened last month?", dt.date(2026, 5, 1), dt.date(2026, 5, 31), False),
        ("Who is currently the mayor?", None, None, True),
        ("What is the latest death toll?", None, None, True),
        ("What did the 2021 attack kill?", None, None, False),  # names an event, not a time of report
        ("Who leads ISIS-K?", None, None, False),
    ],
)
def test_the_time_a_question_names(question, since, until, now):
    asked = asked_time(question, TODAY)
    assert asked.now == now
    if since is None and until is None:
        assert asked.period is None
    else:
        assert (asked.period.since, asked.period.until) == (since, until)


def _citation(n: int, doc: str, published: str | None, quote: str) -> Citation:
    return Citation(id=n, doc_id=doc, title=doc, source=doc, published=published, quote=quote, start=0, end=len(quote),
                    passage=quote, passage_start=0, passage_end=len(quote), score=0.5)  # fmt: skip


def test_dates_label_the_quotes_and_never_enter_them():
    new = _citation(1, "new", "2026-02-09", "Tomas Vell was sworn in.")
    old = _citation(2, "old", "2024-03-14T08:00:00+00:00", "Mayor Ana Ruiz cut the ribbon.")
    text = answer_text([new, old])
    assert text == "As of 9 Feb 2026: Tomas Vell was sworn in. [1] Earlier, as of 14 Mar 2024: Mayor Ana Ruiz cut the ribbon. [2]"
    assert strip_markers(text) == "Tomas Vell was sworn in. Mayor Ana Ruiz cut the ribbon."  # what the size limits count
    assert answer_text([_citation(1, "u", None, "Undated.")]) == "Undated. [1]"
    same = _citation(2, "new", "2026-02-09", "He was a ferry captain.")  # the same article: no second label
    assert answer_text([new, same]).endswith(" He was a ferry captain. [2]")


@pytest.fixture
def news(local_engine: QAEngine) -> QAEngine:
    local_engine.library.ingest([DATED])
    local_engine.today = lambda: TODAY
    return local_engine


def _exact(engine: QAEngine, answer) -> None:
    for c in answer.citations:
        assert engine.library.document(c.doc_id).article.text[c.start : c.end] == c.quote


def test_the_newest_report_leads_and_the_one_it_replaces_follows(news: QAEngine):
    a = news.ask("Who is the mayor of Velmora?")
    assert [c.doc_id for c in a.citations][0] == "velmora-new-mayor" and "Tomas Vell" in a.citations[0].quote
    assert a.answer.startswith("As of 9 Feb 2026: ") and a.citations[0].published == "2026-02-09"
    if len(a.citations) > 1:  # the older report, as context, says when it was true
        assert a.citations[1].doc_id == "velmora-library-opens" and "Earlier, as of 14 Mar 2024: " in a.answer
    _exact(news, a)
    toll = news.ask("How many people died in the Kestrel Bay floods?")
    assert toll.citations[0].doc_id == "kestrel-flood-inquiry" and "31" in toll.citations[0].quote


def test_an_undated_article_counts_as_older(news: QAEngine, tmp_path: Path):
    (tmp_path / "old-note.txt").write_text(
        "Velmora notes\n\nThe mayor of Velmora, Ines Halloran, opened the autumn fair on the quay.\n", encoding="utf-8"
    )
    news.library.ingest([tmp_path / "old-note.txt"])
    a = news.ask("Who is the mayor of Velmora?")
    assert a.citations[0].doc_id == "velmora-new-mayor", a.answer


def test_a_newer_report_about_something_else_never_leads(news: QAEngine, tmp_path: Path):
    """A newer article that answers a question of the same kind about something else (another company's
    chief, another town's toll) is no update, however a model's probabilities sit."""
    (tmp_path / "orrin.md").write_text(
        "---\ntitle: Orrin Rail names a new chief\npublished: 2026-05-20\n---\n\n"
        "Orrin Rail said on Tuesday that Mira Castell had become its chief executive, after Jon Pell retired.\n"
        "The company runs trains between Duneholt and the coast.\n", encoding="utf-8",
    )  # fmt: skip
    news.library.ingest([tmp_path / "orrin.md"])
    a = news.ask("Who is the chief executive of Marrow Lines?")
    assert a.citations and a.citations[0].doc_id == "marrow-lines-fares" and "Paulo Brandt" in a.citations[0].quote, a.answer
    assert "Mira Castell" not in a.answer


def test_a_question_naming_a_time_asks_within_it_first(news: QAEngine):
    a = news.ask("Who was the mayor of Velmora in 2024?")
    assert a.period == "2024" and "Ana Ruiz" in a.answer and a.citations[0].doc_id == "velmora-library-opens"
    b = news.ask("How many deaths did the Kestrel Bay floods cause, as reported last year?")  # 2025, from TODAY
    assert b.period == "2025" and b.citations[0].doc_id == "kestrel-flood-toll-rises" and "27" in b.answer
    # a time no article is dated in changes nothing
    d = news.ask("Who was the mayor of Velmora in 2019?")
    assert d.period is None and not d.warnings


def test_when_no_article_of_that_time_answers_the_nearest_report_does(tmp_path: Path, embed_model):
    """No article dated 2025 says who the mayor was: any date may answer, the last report before 2025
    first, and the answer says so. (The linear ranker answers from a 2025 article about ferries instead:
    its support is not calibrated enough to say no there.)"""
    engine = QAEngine(Settings(data_dir=tmp_path / "data", answer=AnswerSettings(model="trained")), embed_model=embed_model)
    engine.library.ingest([DATED])
    engine.today = lambda: TODAY
    for question in ("Who was the mayor of Velmora in 2025?", "Who was the mayor of Velmora last year?"):
        a = engine.ask(question)
        assert a.period is None and any("no article dated 2025 answers this" in w for w in a.warnings)
        assert a.citations[0].doc_id == "velmora-library-opens" and "Ana Ruiz" in a.citations[0].quote, a.answer
        assert a.answer.startswith("As of 14 Mar 2024: ")
        if len(a.citations) > 1:
            assert "Later, as of 9 Feb 2026: " in a.answer


@pytest.mark.parametrize("model", ["linear", "trained"])
def test_the_dated_suite_meets_its_floors(embed_model, model):
    """Newest first in at least 90% of the dated suite's questions; a scoped one never cites outside."""
    result = runner.run_gold(Settings(answer=AnswerSettings(model=model)), path=SUITE, embed_model=embed_model)
    assert result.name == "gold-dated" and result.metrics.answerable >= 20
    assert result.metrics.scope_kept == 1.0
    assert runner.gate(result, runner.load_thresholds()) == runner.Gate([])  # evals/thresholds.toml


def test_generative_answers_get_the_dates_and_may_say_when(tmp_path: Path, embed_model, llm):
    """The prompt carries each passage's date and asks for the newest first and when it was reported; a
    sentence that says so ("As of 9 February 2026") is supported by its article's date."""
    from qa.config import LLMSettings
    from tests.support.articles import cite

    llm_settings = LLMSettings(backend="openai", base_url=f"{llm.url}/v1", model="scripted", timeout=30)
    engine = QAEngine(Settings(data_dir=tmp_path / "data", llm=llm_settings), embed_model=embed_model)
    engine.library.ingest([DATED])
    llm.script(cite("Tomas Vell was sworn in", "As of 9 February 2026, Tomas Vell is the mayor of Velmora [{n}]."))
    a = engine.ask("Who is the mayor of Velmora?")
    assert a.mode == "generative" and a.unsupported == [], a.unsupported
    assert a.answer.startswith("As of 9 February 2026, Tomas Vell is the mayor of Velmora.")
    system, prompt = (m["content"] for m in llm.requests[-1]["messages"][:2])
    assert "most recently published one comes first" in system and "say when each fact was reported" in system
    assert re.search(r'Title: [^\n]*Tomas Vell[^\n]*\nDate: [^\n]*2026-02-09', prompt), prompt[:600]
    # a date the article does not carry is not supported
    llm.script(cite("Tomas Vell was sworn in", "As of 3 March 2019, Tomas Vell is the mayor of Velmora [{n}]."))
    b = engine.ask("Who is the mayor of Velmora?")
    assert [u.text for u in b.unsupported] == ["As of 3 March 2019, Tomas Vell is the mayor of Velmora."]
