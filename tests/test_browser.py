"""The chat page in a real headless Chromium (Debian's, driven by Playwright; no browser download).

Without /usr/bin/chromium these tests skip, unless QA_REQUIRE_BROWSER=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from evals.live import CHROMIUM_FLAGS, serving
from qa.engine import QAEngine
from qa.ingest.readers import article_from_fields
from server import create_app
from tests.support.articles import HOSTILE

CHROMIUM = Path(os.environ.get("QA_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("QA_REQUIRE_BROWSER") == "1"  # read at import: the autouse fixture clears QA_* later

if not CHROMIUM.exists():
    if REQUIRED:
        pytest.fail(f"QA_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install -y chromium); set QA_REQUIRE_BROWSER=1 to fail instead",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect, sync_playwright


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    yield pg
    context.close()
    assert not errors, errors


def ask(page: Page, question: str):
    page.fill("#question", question)
    page.press("#question", "Enter")
    turn = page.locator("#conversation > li").last
    expect(turn.locator(".bubble.bot:not(.streaming)")).to_be_visible(timeout=30_000)
    return turn


def test_ask_open_a_citation_and_follow_up(page: Page, live_url: str):
    page.goto(live_url)
    expect(page.locator("#corpus")).to_contain_text(re.compile(r"from 1 article \(\d+ passages\)"))
    turn = ask(page, "who leads ISIS-K?")
    expect(turn.locator(".answer")).to_contain_text("Shahab al-Muhajir")

    turn.locator(".cite", has_text="[1]").first.click()
    panel = page.locator("#source-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("h3")).to_contain_text("Who are ISIS-K?")
    mark = panel.locator("mark")
    expect(mark).to_be_visible()
    expect(mark).to_have_text("The group is led by an Iraqi militant called Shahab al-Muhajir.")
    assert mark.evaluate("m => getComputedStyle(m).backgroundColor") != "rgba(0, 0, 0, 0)"  # really highlighted
    page.click("#panel-close")
    expect(panel).to_be_hidden()

    follow = ask(page, "Where is he from?")
    expect(follow.locator(".answer")).to_contain_text("Iraqi")
    expect(page.locator("#conversation > li")).to_have_count(2)

    page.click("#new-conversation")
    expect(page.locator("#conversation > li")).to_have_count(0)
    fresh = ask(page, "Where is he from?")  # no history now: nothing to lean on
    expect(fresh.locator(".answer")).not_to_contain_text("Shahab al-Muhajir")


def test_abstentions_and_errors_look_different(page: Page, live_url: str):
    page.goto(live_url)
    off = ask(page, "What is the boiling point of mercury?")
    expect(off.locator(".bubble.bot.abstained .badge")).to_have_text("Not in the articles")
    expect(off.locator(".answer")).to_have_text("The articles don't say.")
    # past the box's maxlength (as a script could send): the server refuses it and the page says why
    page.evaluate("() => { const q = document.getElementById('question'); q.removeAttribute('maxlength'); }")
    bad = ask(page, "why " * 600)
    expect(bad.locator(".bubble.bot.error")).to_contain_text("the question is too long")
    expect(bad.locator(".bubble.bot.error")).to_have_attribute("role", "alert")


def test_without_javascript_the_form_still_answers(browser, live_url: str):
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto(live_url)
    pg.fill("#question", "who leads ISIS-K?")
    pg.click("#send")
    expect(pg.locator(".bubble.bot .answer")).to_contain_text("Shahab al-Muhajir")
    expect(pg.locator(".sources mark").first).to_have_text(
        "The group is led by an Iraqi militant called Shahab al-Muhajir."
    )
    context.close()


def test_hostile_article_text_renders_inert(page: Page, local_engine: QAEngine):
    local_engine.library.add([article_from_fields(doc_id="council", source="api", **HOSTILE)])
    with serving(create_app(engine=local_engine)) as url:
        page.goto(url)
        turn = ask(page, "What did protesters chant outside the town hall?")
        expect(turn.locator(".answer")).to_contain_text("<script>window.__xss=1</script>")
        turn.locator(".cite").first.click()
        body = page.locator("#panel-body")
        expect(body).to_contain_text('<img src=x onerror="window.__xss=2">')
        expect(body.locator("h3")).to_contain_text('<b onmouseover="window.__xss=3">')
        assert body.locator("a").count() == 0  # the javascript: URL did not become a link
        ask(page, '<img src=x onerror="window.__xss=6"> who chanted?')
        assert page.evaluate("() => window.__xss") is None
        assert page.locator("#conversation img, #panel-body img, #conversation script, #conversation b").count() == 0


def test_generative_draft_is_replaced_by_the_verified_answer(page: Page, gen_engine: QAEngine, llm, embed_model):
    from evals.scripted_llm import Reply
    from tests.support.articles import LEADER, cite

    # the same index and scripted LLM, with a timeout that a slowly streamed answer cannot hit
    s = gen_engine.settings
    engine = QAEngine(s.model_copy(update={"llm": s.llm.model_copy(update={"timeout": 60})}), embed_model=embed_model)
    invented = "The group was founded in 2012 by defectors."
    # streamed slowly, so the draft is on screen while the sentences are checked
    llm.script(Reply(cite(LEADER, "ISIS-K is " + LEADER + " [{n}]. " + invented[:-1] + " [{n}]."), chunk_delay=0.15))
    with serving(create_app(engine=engine)) as url:
        page.goto(url)
        expect(page.locator("#mode")).to_have_value("generative")
        page.fill("#question", "Who leads ISIS-K?")
        page.press("#question", "Enter")
        bubble = page.locator("#conversation > li").last.locator(".bubble.bot")
        expect(bubble).to_have_class(re.compile(r"\bdraft\b"), timeout=15_000)
        expect(bubble.locator(".status")).to_contain_text("Checking citations: 1 verified", timeout=15_000)
        expect(bubble.locator(".answer")).to_contain_text("founded in 2012", timeout=15_000)  # the draft shows what the model wrote
        expect(bubble).not_to_have_class(re.compile(r"\b(draft|streaming)\b"), timeout=15_000)
        answer = bubble.locator(".answer")
        expect(answer).to_have_text(f"ISIS-K is {LEADER}. [1]")  # ... and the verified answer replaces it
        expect(bubble.locator("details.removed summary")).to_have_text("1 sentence removed: not supported by its sources")
        bubble.locator("details.removed summary").click()
        expect(bubble.locator("details.removed li")).to_contain_text(invented)
        answer.locator(".cite").first.click()
        expect(page.locator("#panel-body mark")).to_contain_text("Shahab al-Muhajir")
        # exact quotes only: the same question without the LLM
        llm.script()
        page.select_option("#mode", "extractive")
        turn = ask(page, "Who leads ISIS-K?")
        expect(turn.locator(".answer")).to_contain_text("The group is led by an Iraqi militant called Shahab al-Muhajir.")
        assert llm.requests == []
