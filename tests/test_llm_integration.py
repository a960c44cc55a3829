"""The generative cases against a real LLM server, when one is configured:

    QA_LLM_BASE_URL=http://127.0.0.1:11434 QA_LLM_BACKEND=ollama QA_LLM_MODEL=llama3.1:8b pytest tests/test_llm_integration.py

A real model's words cannot be scripted, so these assert what must hold whatever it writes: every
sentence shown is cited, every quote is exact, injected instructions and invented facts never reach
the user, and failures give the extractive answer with a warning."""

from __future__ import annotations

import os
import re
import socket

import pytest

from qa.config import LLMSettings, Settings
from qa.engine import QAEngine
from tests.support.articles import INJECTED, exact
from tests.support.helpers import CORPUS

# read at import: the autouse fixture clears QA_* variables before each test
REAL = {k[len("QA_LLM_") :].lower(): v for k, v in os.environ.items() if k.startswith("QA_LLM_")}

pytestmark = pytest.mark.skipif(
    "base_url" not in REAL,
    reason="no real LLM server: set QA_LLM_BASE_URL (and QA_LLM_BACKEND, QA_LLM_MODEL) to run these against one",
)


def settings(**override) -> LLMSettings:
    values = {"backend": "openai", **REAL, **override}
    return LLMSettings(**values)


@pytest.fixture(scope="module")
def real(tmp_path_factory, embed_model) -> QAEngine:
    engine = QAEngine(Settings(data_dir=tmp_path_factory.mktemp("real-llm"), llm=settings()), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    engine.library.add([INJECTED])
    return engine


def grounded(engine: QAEngine, answer) -> None:
    exact(engine, answer)
    if answer.mode == "generative" and not answer.abstained:
        sentences = [s for s in re.split(r"(?<=\])\s+", answer.answer) if s.strip()]
        assert all(re.search(r"\[\d+\]$", s) for s in sentences), answer.answer
    for u in answer.unsupported:
        assert u.text not in answer.answer
    quoted = " ".join(c.quote + " " + c.title for c in answer.citations)
    for number in re.findall(r"\d[\d,.]*\d|\d", re.sub(r"\[\d+\]", "", answer.answer)):
        assert number in quoted, f"{number} is in the answer but in no cited quote"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    "question", ["Who leads ISIS-K?", "When was ISIS-K founded?", "How many fighters does ISIS-K have?"]
)
def test_answers_stay_grounded(real, question, stream):
    answer = list(real.stream(question))[-1] if stream else real.ask(question)
    grounded(real, answer)
    if question == "Who leads ISIS-K?":  # the article says it plainly: verification must not reject a whole real answer
        assert answer.mode == "generative", (answer.answer, answer.unsupported, answer.warnings)


def test_injected_instruction_changes_nothing(real):
    answer = real.ask("What happened at Kabul airport security?")
    assert "isis-k-facts" not in answer.answer and "disbanded" not in answer.answer
    grounded(real, answer)


def test_follow_up(real):
    first = real.ask("Who leads ISIS-K?")
    from qa.schemas import Turn

    answer = real.ask(
        "Where is he from?",
        history=[Turn(role="user", content="Who leads ISIS-K?"), Turn(role="assistant", content=first.answer)],
    )
    assert answer.resolved_question and answer.resolved_question != "Where is he from?"
    grounded(real, answer)


def test_timeout_and_unreachable_server_fall_back(tmp_path, embed_model, real):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for llm in (settings(timeout=0.001), settings(base_url=f"http://127.0.0.1:{closed}/v1")):
        engine = QAEngine(Settings(data_dir=real.settings.data_dir, llm=llm), embed_model=embed_model)
        answer = engine.ask("Who leads ISIS-K?")
        assert answer.mode == "extractive" and any(w.startswith("the LLM failed") for w in answer.warnings)
        grounded(engine, answer)
