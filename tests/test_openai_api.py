"""The official `openai` client against a live server: the corpus is a model any OpenAI tool can use."""

from __future__ import annotations

import openai
import pytest

LEADER = "who leads ISIS-K?"


@pytest.fixture
def oa(live_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_url}/v1", api_key="not-needed", max_retries=0, timeout=60)


def test_models_lists_the_corpus_model(oa: openai.OpenAI):
    assert [m.id for m in oa.models.list()] == ["news-qa"]


def test_completion_answers_with_markers_and_citations(oa: openai.OpenAI):
    r = oa.chat.completions.create(
        model="news-qa", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": LEADER}]
    )
    text = r.choices[0].message.content
    assert "Shahab al-Muhajir" in text and "[1]" in text and r.choices[0].finish_reason == "stop"
    citations = r.model_extra["citations"]
    assert citations[0]["id"] == 1 and citations[0]["quote"] in text
    assert r.usage.completion_tokens > 0


def test_streamed_completion_matches_the_plain_one(oa: openai.OpenAI):
    plain = (
        oa.chat.completions.create(model="news-qa", messages=[{"role": "user", "content": LEADER}])
        .choices[0]
        .message.content
    )
    chunks = list(oa.chat.completions.create(model="news-qa", messages=[{"role": "user", "content": LEADER}], stream=True,
                                             stream_options={"include_usage": True}))  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].model_extra["citations"]
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finals) == 1 and finals[0].model_extra["citations"][0]["quote"] in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_earlier_messages_are_the_history(oa: openai.OpenAI):
    first = (
        oa.chat.completions.create(model="news-qa", messages=[{"role": "user", "content": LEADER}])
        .choices[0]
        .message.content
    )
    r = oa.chat.completions.create(model="news-qa", messages=[
        {"role": "user", "content": LEADER}, {"role": "assistant", "content": first},
        {"role": "user", "content": [{"type": "text", "text": "Where is he from?"}]},
    ])  # fmt: skip
    assert "Iraqi" in r.choices[0].message.content


def test_usage_counts_word_pieces_of_the_messages_and_the_answer(oa: openai.OpenAI):
    """who / leads / isis / - / k / ? : six word pieces; the system message counts too, as OpenAI counts it."""
    r = oa.chat.completions.create(model="news-qa", messages=[{"role": "user", "content": LEADER}])
    assert r.usage.prompt_tokens == 6
    words = r.choices[0].message.content.split()
    assert len(words) <= r.usage.completion_tokens <= 3 * len(words)  # pieces, not words: "al-Muhajir" is several
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    r2 = oa.chat.completions.create(
        model="news-qa", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": LEADER}]
    )
    assert r2.usage.prompt_tokens == 6 + 3  # be / brief / .
    streamed = list(oa.chat.completions.create(model="news-qa", messages=[{"role": "user", "content": LEADER}],
                                               stream=True, stream_options={"include_usage": True}))  # fmt: skip
    assert streamed[-1].usage.model_dump() == r.usage.model_dump()


def test_errors_reach_the_client_as_openai_errors(oa: openai.OpenAI):
    with pytest.raises(openai.NotFoundError, match="does not exist") as missing:
        oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": LEADER}])
    assert missing.value.code == "model_not_found" and missing.value.param == "model"  # strings, as OpenAI sends
    with pytest.raises(openai.UnprocessableEntityError, match="an earlier message is too long"):
        oa.chat.completions.create(
            model="news-qa", messages=[{"role": "user", "content": "x" * 30_000}, {"role": "user", "content": LEADER}]
        )
    with pytest.raises(openai.BadRequestError, match="the question is empty") as empty:
        oa.chat.completions.create(model="news-qa", messages=[{"role": "user", "content": " "}])
    assert empty.value.code == "invalid_request" and empty.value.type == "invalid_request_error"
