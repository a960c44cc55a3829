"""The chat page in a real headless Chromium (Debian's, driven by Playwright; no browser download).

Without /usr/bin/chromium these tests skip, unless QA_REQUIRE_BROWSER=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from evals.live import CHROMIUM_FLAGS, serving
from qa.config import ChromaSettings, IngestSettings, ServerSettings, Settings
from qa.engine import QAEngine
from qa.ingest.fields import article_from_fields
from server import create_app
from tests.support.articles import HOSTILE
from tests.support.helpers import CORPUS, chroma_run

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
    expect(bad.locator(".bubble.bot.error")).to_contain_text(re.compile(r"The question is too long \(\d+ characters; the limit is 2000\)\."))
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
        # the library lists it and opens it as text too
        page.click("#library-toggle")
        item = page.locator("#library-list .doc")
        expect(item.locator(".doc-title")).to_have_text(HOSTILE["title"])
        expect(item.locator(".doc-meta")).to_have_text("uploaded · 1 passage, 4 sentences")  # the javascript: URL is no source
        item.locator(".doc-title").click()
        expect(page.locator("#panel-body .article-text")).to_contain_text("<script>window.__xss=1</script>")
        assert page.locator("#panel-body a").count() == 0
        assert page.evaluate("() => window.__xss") is None
        assert page.locator("#conversation img, #panel-body img, #conversation script, #conversation b").count() == 0
        assert page.locator("#library-panel b, #library-panel img, #panel-body b").count() == 0


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


# -- the library panel ---------------------------------------------------------------------------
BRIDGE = {
    "title": "Harbor Bridge reopens after eight months of repairs",
    "text": "The Harbor Bridge in Port Ellison reopened to traffic on Monday after eight months of repairs. "
    "The repairs were led by the engineer Marta Lindqvist, who replaced all 212 steel cables. "
    "City officials said the work cost 41 million dollars, less than first planned.\n\n"
    "Commuters had used a ferry service while the bridge was closed. "
    "The ferry will keep running on weekends until the end of the summer.",
    "url": "https://example.org/harbor-bridge",
    "published": "2024-05-06",
}
BRIDGE_QUESTION = "Who led the repairs of the Harbor Bridge?"
ISIS_TITLE = "Who are ISIS-K? Offshoot terror group threatening to attack in Afghanistan"


@contextmanager
def library_server(tmp_path: Path, embed_model, *, corpus: bool = True, **settings):
    """The real app over its own index (these tests change it), with corpus/ in it unless told not to."""
    engine = QAEngine(Settings(data_dir=tmp_path / "lib", **settings), embed_model=embed_model)
    if corpus:
        engine.library.ingest([CORPUS])
    with serving(create_app(engine=engine)) as url:
        yield url, engine


def open_library(page: Page):
    page.click("#library-toggle")
    panel = page.locator("#library-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#library-list")).to_have_attribute("aria-busy", "false")
    return panel


def record_statuses(page: Page) -> None:
    """Every state the library's status line passes through, for asserting on the short-lived ones."""
    page.evaluate(
        """() => { window.__statuses = []; const s = document.getElementById('library-status');
        new MutationObserver(() => window.__statuses.push(s.className + '|' + s.textContent))
          .observe(s, {childList: true, characterData: true, subtree: true, attributes: true}); }"""
    )


def paste(page: Page, fields: dict) -> None:
    details = page.locator("#add-article")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    page.fill("#add-title", fields["title"])
    page.fill("#add-text", fields["text"])
    if "url" in fields:
        page.fill("#add-url", fields["url"])
    if "published" in fields:
        page.fill("#add-published", fields["published"])
    page.click("#add-submit")


def right(box: dict) -> float:
    return box["x"] + box["width"]


def test_library_lists_adds_answers_opens_and_deletes(page: Page, tmp_path, embed_model):
    with library_server(tmp_path, embed_model) as (url, engine):
        page.goto(url)
        panel = open_library(page)
        expect(page.locator("#library-toggle")).to_have_attribute("aria-expanded", "true")
        items = panel.locator("#library-list .doc")
        expect(items).to_have_count(1)
        expect(items.first.locator(".doc-title")).to_have_text(ISIS_TITLE)
        expect(items.first.locator(".doc-meta")).to_have_text("isis-k-explainer.txt · 5 passages, 26 sentences")
        expect(page.locator("#library-count")).to_have_text("1 article · 5 passages")

        # add by pasting: "Indexing ..." while it is indexed, then it is in the list, marked as new
        record_statuses(page)
        paste(page, BRIDGE)
        status = page.locator("#library-status")
        expect(status).to_have_text(
            "Added “Harbor Bridge reopens after eight months of repairs”: 1 passage, 5 sentences. "
            "Ask about it in the question box.", timeout=60_000,
        )  # fmt: skip
        expect(status).to_have_class(re.compile(r"\bok\b"))
        seen = page.evaluate("() => window.__statuses")
        assert "status-line busy|Indexing “Harbor Bridge reopens after eight months of repairs”…" in seen, seen
        expect(items).to_have_count(2)
        fresh = panel.locator("#library-list .doc.fresh")
        expect(fresh.locator(".doc-title")).to_have_text(BRIDGE["title"])
        expect(fresh.locator(".doc-meta")).to_have_text("2024-05-06 · example.org · 1 passage, 5 sentences")
        expect(page.locator("#library-count")).to_have_text("2 articles · 6 passages")
        expect(page.locator("#corpus")).to_have_text("Answers only from 2 articles (6 passages), each sentence quoted and cited.")
        expect(page.locator("#add-title")).to_have_value("")  # the form is ready for the next one
        assert {d.id for d in engine.library.documents()} == {"isis-k-explainer", "harbor-bridge-reopens-after-eight-months-of-repairs"}

        # ask about it: the answer cites the new article
        turn = ask(page, BRIDGE_QUESTION)
        expect(turn.locator(".answer")).to_contain_text("The repairs were led by the engineer Marta Lindqvist")
        # the linear answer quotes two neighbouring sentences in article order, each its own citation
        turn.locator(".cite").last.click()
        reader = page.locator("#source-panel")
        expect(reader.locator("h3")).to_have_text(BRIDGE["title"])
        expect(reader.locator("mark")).to_contain_text("Marta Lindqvist")
        expect(reader.locator("mark")).not_to_contain_text("reopened to traffic")  # exactly the sentence it quotes
        # on a desktop the three sit side by side: nothing covers the answer or the question box
        bubble = turn.locator(".bubble.bot").bounding_box()
        library_box, reader_box = panel.bounding_box(), reader.bounding_box()
        for box in (bubble, page.locator("#ask").bounding_box()):
            assert right(library_box) <= box["x"] + 0.5 and right(box) <= reader_box["x"] + 0.5, (library_box, box, reader_box)
        # ... and the whole article, from the source
        reader.get_by_role("button", name="Read the whole article").click()
        expect(page.locator("#panel-title")).to_have_text("Article")
        expect(reader.locator(".article-text")).to_contain_text("The ferry will keep running on weekends")
        expect(reader.locator(".article-text mark")).to_contain_text("Marta Lindqvist")

        # open the other article from the list: its text in the reader
        items.filter(has_text=ISIS_TITLE).locator(".doc-title").click()
        expect(reader.locator("h3")).to_have_text(ISIS_TITLE)
        expect(reader.locator(".article-text")).to_contain_text("The group is led by an Iraqi militant called Shahab al-Muhajir.")
        expect(reader.locator(".article-text mark")).to_have_count(0)

        # delete: nothing happens until it is confirmed; Cancel keeps it
        item = items.filter(has_text=BRIDGE["title"])
        item.get_by_role("button", name=f"Delete “{BRIDGE['title']}”").click()
        confirm = item.locator(".confirm")
        expect(confirm).to_contain_text(f"Delete “{BRIDGE['title']}” from the library? Questions will no longer be answered from it.")
        expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
        confirm.get_by_role("button", name="Cancel").click()
        expect(confirm).to_have_count(0)
        assert len(engine.library.documents()) == 2
        item.get_by_role("button", name=f"Delete “{BRIDGE['title']}”").click()
        item.locator(".confirm").get_by_role("button", name="Delete", exact=True).click()
        expect(status).to_have_text(f"Deleted “{BRIDGE['title']}”.")
        expect(items).to_have_count(1)
        expect(items.first.locator(".doc-title")).to_have_text(ISIS_TITLE)
        expect(page.locator("#corpus")).to_contain_text("from 1 article (5 passages)")
        assert [d.id for d in engine.library.documents()] == ["isis-k-explainer"]

        # the question about it no longer cites it
        again = ask(page, BRIDGE_QUESTION)
        expect(again.locator(".answer")).not_to_contain_text("Lindqvist")
        assert "Harbor Bridge" not in json.dumps(page.evaluate("() => [...document.querySelectorAll('#conversation .bubble')].pop().textContent"))

        page.keyboard.press("Escape")  # the reader first, then the library
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(page.locator("#library-toggle")).to_be_focused()


def test_source_panel_never_covers_the_answer_on_a_desktop(browser, live_url: str):
    for width in (900, 1200, 1600):
        context = browser.new_context(viewport={"width": width, "height": 800})
        pg = context.new_page()
        pg.goto(live_url)
        turn = ask(pg, "who leads ISIS-K?")
        turn.locator(".cite").first.click()
        reader = pg.locator("#source-panel")
        expect(reader.locator("mark")).to_be_visible()
        answer, ask_box, panel = turn.locator(".bubble.bot").bounding_box(), pg.locator("#ask").bounding_box(), reader.bounding_box()
        assert right(answer) <= panel["x"] + 0.5 and right(ask_box) <= panel["x"] + 0.5, (width, answer, panel)
        assert right(panel) <= width + 0.5 and answer["width"] > 200, (width, answer, panel)
        # the library too, on the other side
        open_library(pg)
        answer, library_box = turn.locator(".bubble.bot").bounding_box(), pg.locator("#library-panel").bounding_box()
        assert right(library_box) <= answer["x"] + 0.5 and right(answer) <= reader.bounding_box()["x"] + 0.5, (width, answer)
        assert pg.evaluate("() => document.documentElement.scrollWidth") <= width
        context.close()


def test_upload_files_by_choosing_and_dropping(page: Page, tmp_path, embed_model):
    ferry = "---\ntitle: Ferry timetable changes\npublished: 2024-06-01\n---\nThe ferry to Port Ellison runs every 40 minutes from June.\n"
    records = "\n".join(json.dumps(r) for r in (
        {"id": "market-a", "title": "Night market opens", "text": "The night market in Port Ellison opened on Friday with 80 stalls."},
        {"id": "market-b", "title": "Night market closes early", "text": "Rain closed the night market two hours early on Saturday."},
        {"id": "bad", "title": "No text here"},
    ))  # fmt: skip
    # corpus/'s article is over this limit: the library starts empty
    with library_server(tmp_path, embed_model, corpus=False, ingest=IngestSettings(max_file_bytes=2_000)) as (url, engine):
        page.goto(url)
        expect(page.locator("#corpus")).to_have_text("No articles yet: add one in the Library, then ask about it.")
        open_library(page)
        expect(page.locator("#library-list")).to_have_text("No articles yet. Add one: paste its title and text, or drop a file here.")
        expect(page.locator("#add-article")).to_have_attribute("open", "")  # an empty library opens the form
        expect(page.locator("#drop-zone")).to_contain_text("Or add a file: .txt, .md, .html, .jsonl, .pdf or .docx, up to 2 kB")
        record_statuses(page)
        page.set_input_files("#add-file", files=[{"name": "ferry.md", "mimeType": "text/markdown", "buffer": ferry.encode()}])
        status = page.locator("#library-status")
        expect(status).to_have_text("Added “Ferry timetable changes”: 1 passage, 1 sentence.", timeout=60_000)
        assert "status-line busy|Indexing “ferry.md”…" in page.evaluate("() => window.__statuses")
        expect(page.locator("#library-list .doc.fresh .doc-meta")).to_have_text("2024-06-01 · ferry.md · 1 passage, 1 sentence")
        expect(page.locator("#corpus")).to_have_text("Answers only from 1 article (1 passage), each sentence quoted and cited.")
        expect(page.locator("#empty-hint")).to_have_text("Ask something the articles might answer. Follow-ups use the conversation.")

        # dropped on the panel: a .jsonl with a bad record is indexed but for that record
        page.evaluate(
            """(text) => { const dt = new DataTransfer();
              dt.items.add(new File([text], "markets.jsonl", {type: "application/jsonl"}));
              document.getElementById("library-list").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true})); }""",
            records,
        )
        expect(status).to_contain_text("Added 2 articles. Skipped 1 record (line 3: missing `text`).", timeout=60_000)
        expect(page.locator("#library-list .doc")).to_have_count(3)
        expect(page.locator("#library-list .doc.fresh")).to_have_count(2)

        # refusals, in words: too large (before anything is sent), a format it does not read
        page.set_input_files("#add-file", files=[{"name": "long.txt", "mimeType": "text/plain", "buffer": b"A sentence. " * 200}])
        expect(status).to_have_text("That file is too large (the limit is 2 kB).")
        expect(status).to_have_class(re.compile(r"\berror\b"))
        page.set_input_files("#add-file", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n"}])
        expect(status).to_have_text(
            "Could not add “photo.png”: unsupported file type '.png'; use .txt, .md, .markdown, .html, .htm, .jsonl, .pdf, .docx."
        )
        assert len(engine.library.documents()) == 3

        turn = ask(page, "How often does the ferry to Port Ellison run?")
        expect(turn.locator(".answer")).to_contain_text("every 40 minutes")


def test_a_file_named_like_another_story_can_replace_it(page: Page, tmp_path, embed_model):
    kesterton = b"Kesterton rail bridge to be demolished\n\nThe Kesterton rail bridge will be demolished next spring after engineers found cracks in its piers.\n"
    elvira = b"Port Elvira footbridge reopens\n\nThe footbridge over the harbour at Port Elvira reopened on Saturday after a year of repairs.\n"
    with library_server(tmp_path, embed_model, corpus=False) as (url, engine):
        page.goto(url)
        open_library(page)
        status = page.locator("#library-status")
        for text in (kesterton, elvira):
            page.set_input_files("#add-file", files=[{"name": "bridge.txt", "mimeType": "text/plain", "buffer": text}])
            expect(status).to_have_class(re.compile(r"\bok\b"), timeout=60_000)
        expect(status).to_contain_text("Added “Port Elvira footbridge reopens” beside “Kesterton rail bridge to be "
                                       "demolished”: its file has the same name but tells another story.")  # fmt: skip
        expect(page.locator("#library-list .doc")).to_have_count(2)
        status.get_by_role("button", name="Replace “Kesterton rail bridge to be demolished” with it").click()
        expect(status).to_have_text("“Port Elvira footbridge reopens” replaced “Kesterton rail bridge to be demolished”.")
        expect(page.locator("#library-list .doc")).to_have_count(1)
        expect(page.locator("#library-list .doc.fresh .doc-title")).to_have_text("Port Elvira footbridge reopens")
        assert [d.id for d in engine.library.documents()] == ["bridge"]


def test_library_at_mobile_width(browser, tmp_path, embed_model):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    with library_server(tmp_path, embed_model) as (url, engine):
        pg.goto(url)
        expect(pg.locator("#library-toggle")).to_be_visible()
        expect(pg.locator("#new-conversation")).to_be_visible()
        panel = open_library(pg)
        box = panel.bounding_box()
        assert box["x"] == 0 and box["width"] == 375, box  # the whole width, over the conversation
        expect(panel.locator("#library-list .doc-title")).to_have_text(ISIS_TITLE)
        expect(panel.locator("#library-close")).to_be_in_viewport()
        assert pg.evaluate("() => document.documentElement.scrollWidth") <= 375
        assert panel.evaluate("p => p.scrollWidth <= p.clientWidth")  # nothing sticks out sideways

        paste(pg, {"title": BRIDGE["title"], "text": BRIDGE["text"]})
        expect(pg.locator("#library-status")).to_contain_text("Added “Harbor Bridge", timeout=60_000)
        expect(panel.locator("#library-list .doc")).to_have_count(2)
        for field in ("#add-title", "#add-text", "#add-url", "#add-published", "#add-submit"):
            b = pg.locator(field).bounding_box()
            assert b["x"] >= 0 and right(b) <= 375, (field, b)
        assert panel.evaluate("p => p.scrollWidth <= p.clientWidth")

        # an article opens over the library; Close goes back to it
        panel.locator(".doc-title", has_text="Harbor Bridge").click()
        reader = pg.locator("#source-panel")
        expect(reader.locator(".article-text")).to_contain_text("Marta Lindqvist")
        assert reader.bounding_box()["width"] == 375
        pg.click("#panel-close")
        expect(reader).to_be_hidden()
        expect(panel).to_be_visible()

        item = panel.locator(".doc", has_text="Harbor Bridge")
        item.locator(".doc-delete").click()
        item.locator(".confirm-delete").click()
        expect(panel.locator("#library-list .doc")).to_have_count(1)
        pg.click("#library-close")
        expect(panel).to_be_hidden()
        turn = ask(pg, "who leads ISIS-K?")
        expect(turn.locator(".answer")).to_contain_text("Shahab al-Muhajir")
    context.close()
    assert not errors, errors


def test_a_wrong_or_missing_key_asks_for_the_key(page: Page, tmp_path, embed_model):
    with library_server(tmp_path, embed_model, api_key=SecretStr("right-key")) as (url, engine):
        page.goto(url)
        panel = open_library(page)
        expect(panel.locator("#library-list .doc")).to_have_count(1)  # reading needs no key here
        status = page.locator("#library-status")
        paste(page, {"title": BRIDGE["title"], "text": BRIDGE["text"]})
        expect(status).to_have_text("This needs the API key: enter it in the API key field and try again.")
        expect(page.locator("#library-key")).to_be_focused()
        page.fill("#library-key", "wrong")
        page.click("#add-submit")
        expect(status).to_have_text("That API key was not accepted. Check it and try again.")
        assert len(engine.library.documents()) == 1
        expect(page.locator("#add-title")).to_have_value(BRIDGE["title"])  # nothing typed is lost
        page.fill("#library-key", "right-key")
        page.click("#add-submit")
        expect(status).to_contain_text("Added “Harbor Bridge", timeout=60_000)
        assert len(engine.library.documents()) == 2
        page.reload()  # the key is kept for this tab
        open_library(page)
        expect(page.locator("#library-key")).to_have_value("right-key")


def test_protected_reads_ask_for_the_key_on_the_page(page: Page, tmp_path, embed_model):
    settings = {"api_key": SecretStr("right-key"), "server": ServerSettings(protect_reads=True)}
    with library_server(tmp_path, embed_model, **settings) as (url, engine):
        page.goto(url)
        turn = ask(page, "who leads ISIS-K?")
        expect(turn.locator(".bubble.bot.error")).to_have_text(
            "Sorry, that did not work. This needs the API key: enter it in the API key field and try again."
        )
        expect(page.locator("#api-key")).to_be_focused()
        expect(page.locator("#question")).to_have_value("who leads ISIS-K?")  # kept, to send again
        page.fill("#api-key", "wrong")
        turn = ask(page, "who leads ISIS-K?")
        expect(turn.locator(".bubble.bot.error")).to_contain_text("That API key was not accepted. Check it and try again.")
        panel = open_library(page)
        expect(panel.locator("#library-list")).to_contain_text("That API key was not accepted. Check it and try again.")
        page.fill("#library-key", "right-key")  # one key for the whole page
        expect(page.locator("#api-key")).to_have_value("right-key")
        page.click("#library-close")
        turn = ask(page, "who leads ISIS-K?")
        expect(turn.locator(".answer")).to_contain_text("Shahab al-Muhajir")
        open_library(page)
        expect(panel.locator("#library-list .doc-title")).to_have_text(ISIS_TITLE)


def test_failures_are_told_in_plain_words(page: Page, tmp_path, embed_model, monkeypatch, caplog):
    # the search index goes away (a real `chroma run`, killed): questions and writes say so plainly
    with chroma_run(tmp_path) as (host, port, chroma):
        chroma_settings = ChromaSettings(host=host, port=port)
        with library_server(tmp_path, embed_model, chroma=chroma_settings) as (url, engine):
            page.goto(url)
            open_library(page)
            expect(page.locator("#library-list .doc")).to_have_count(1)
            chroma.kill()
            chroma.wait(timeout=10)
            turn = ask(page, "who leads ISIS-K?")
            expect(turn.locator(".bubble.bot.error")).to_have_text(
                "Sorry, that did not work. The search index is not reachable; try again in a moment.", timeout=60_000
            )
            paste(page, {"title": BRIDGE["title"], "text": BRIDGE["text"]})
            expect(page.locator("#library-status")).to_have_text(
                "The search index is not reachable; try again in a moment.", timeout=60_000
            )

    # an unexpected failure on the server: the log gets the detail, the page a sentence
    with library_server(tmp_path / "second", embed_model) as (url, engine):

        def broken(*args, **kwargs):
            raise RuntimeError("boom in the answerer")

        monkeypatch.setattr(engine, "ask", broken)
        page.goto(url)
        turn = ask(page, "who leads ISIS-K?")
        expect(turn.locator(".bubble.bot.error")).to_have_text("Sorry, that did not work. Something went wrong on our side; try again.")
        assert "RuntimeError: boom in the answerer" in caplog.text  # the detail, with its traceback, is in the log
    # ... and the server itself is gone
    turn = ask(page, "who leads ISIS-K?")
    expect(turn.locator(".bubble.bot.error")).to_have_text(
        "Sorry, that did not work. The server could not be reached. Check that it is running and try again."
    )
    texts = page.locator("#conversation").inner_text() + page.locator("#library-panel").inner_text()
    assert not re.search(r"Error\b|Exception|Traceback|boom", texts), texts


def test_the_page_has_an_icon_and_no_missing_files(browser, live_url: str):
    context = browser.new_context()
    pg = context.new_page()
    failed: list[str] = []
    pg.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    pg.goto(live_url)
    ask(pg, "who leads ISIS-K?")
    icons = pg.eval_on_selector_all("link[rel=icon]", "ls => ls.map(l => l.href)")
    assert icons == [f"{live_url}/static/favicon.svg", f"{live_url}/favicon.ico"]
    for icon in icons:
        r = pg.request.get(icon)
        assert r.status == 200 and r.headers["content-type"].startswith("image/"), icon
    pg.goto(live_url + "/library")
    expect(pg.locator("#library-list .doc-title")).to_have_text(ISIS_TITLE)
    assert not failed, failed
    context.close()


def test_without_javascript_the_library_lists_and_shows_articles(browser, live_url: str):
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto(live_url)
    pg.click("#library-toggle")  # a plain link without JavaScript
    expect(pg).to_have_url(f"{live_url}/library")
    expect(pg.locator("#library-list .doc-meta")).to_have_text("isis-k-explainer.txt · 5 passages, 26 sentences")
    pg.click(f"text={ISIS_TITLE}")
    expect(pg.locator("#article-text")).to_contain_text("The group is led by an Iraqi militant called Shahab al-Muhajir.")
    pg.go_back()
    pg.click("text=Back to the chat")
    pg.fill("#question", "who leads ISIS-K?")
    pg.click("#send")
    pg.locator(".sources a", has_text="Read the whole article").first.click()
    expect(pg.locator("#quote")).to_have_text("The group is led by an Iraqi militant called Shahab al-Muhajir.")
    context.close()


def test_add_by_link_and_follow_a_feed_in_the_library_panel(page: Page, tmp_path, embed_model):
    from qa.config import FetchSettings
    from tests.support.site import Page as SitePage
    from tests.support.site import Site, news_page

    paras = ["The Dunmore ferry will sail twice a day from March, the island council said on Monday, after a vote of seven to two.",
             "Harbour master Ilse Varga said the Corran Star, a 40-metre vessel bought from Norway, carries 180 passengers and twelve cars.",
             "The new timetable adds an evening crossing at six o'clock, which commuters had asked for since the old boat was retired."]  # fmt: skip
    with Site() as site, library_server(tmp_path, embed_model, corpus=False, fetch=FetchSettings(allow_private=True)) as (url, engine):
        site.pages["/news/ferry"] = SitePage(news_page(title="Dunmore ferry to sail twice a day", paragraphs=paras))
        site.pages["/stub"] = SitePage(b"<html><body><p>Subscribe to read the full story.</p></body></html>")
        page.goto(url)
        open_library(page)
        status = page.locator("#library-status")
        page.fill("#add-link", site.url("/stub"))
        page.click("#link-submit")
        expect(status).to_contain_text("is not an article", timeout=60_000)
        expect(status).to_have_class(re.compile(r"\berror\b"))
        page.fill("#add-link", site.url("/news/ferry"))
        page.click("#link-submit")
        expect(status).to_have_text("Added “Dunmore ferry to sail twice a day”: 1 passage, 3 sentences. Ask about it in the question box.",
                                    timeout=60_000)  # fmt: skip
        expect(page.locator("#library-list .doc.fresh .doc-meta")).to_have_text("2026-11-30 · Mara Quell · The Dunmore Courier · 1 passage, 3 sentences")
        turn = ask(page, "How many passengers does the Corran Star carry?")
        expect(turn.locator(".answer")).to_contain_text("180 passengers")
        turn.locator(".cite").first.click()  # the source: its title links to the story where it was published
        expect(page.locator("#source-panel h3 a")).to_have_attribute("href", site.url("/news/ferry"))
        expect(page.locator("#source-panel .date")).to_have_text("The Dunmore Courier · 30 Nov 2026")  # where and when

        # a feed: followed, listed with its last fetch, then no longer followed
        rss = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Dunmore Courier</title><link>{site.url("/")}</link>'
               f"<description>d</description><item><title>Ferry</title><link>{site.url('/news/ferry')}</link>"
               f"<pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>")  # fmt: skip
        site.pages["/rss"] = SitePage(rss.encode(), "application/rss+xml")
        page.click("#feeds summary")
        expect(page.locator("#feed-list")).to_have_text("No feeds followed yet.")
        page.fill("#feed-url", site.url("/rss"))
        page.click("#feed-submit")
        expect(status).to_have_text("Following “Dunmore Courier”: 0 articles added.", timeout=60_000)  # the story was in already
        feed = page.locator("#feed-list .feed")
        expect(feed).to_contain_text("Dunmore Courier")
        expect(feed).to_contain_text(": ok, 0 new articles")
        feed.get_by_role("button", name="Stop following “Dunmore Courier”").click()
        expect(page.locator("#feed-list")).to_have_text("No feeds followed yet.")
        assert len(engine.library.documents()) == 1



def test_conversations_are_kept_reopened_renamed_exported_and_deleted(page: Page, live_url: str, tmp_path):
    page.goto(live_url)
    expect(page.locator("#conversations summary")).to_have_text("Conversations")
    ask(page, "who leads ISIS-K?")
    ask(page, "Where is he from?")
    page.reload()  # kept in this browser: the page starts empty, the conversation is in the list
    expect(page.locator("#conversation > li")).to_have_count(0)
    page.click("#conversations summary")
    convo = page.locator("#conversation-list .convo")
    expect(convo).to_have_count(1)
    expect(convo.locator(".convo-open")).to_have_text("who leads ISIS-K?")
    expect(convo).to_contain_text("2 questions")
    convo.locator(".convo-open").click()
    turns = page.locator("#conversation > li")
    expect(turns).to_have_count(2)
    expect(turns.first.locator(".answer")).to_contain_text("Shahab al-Muhajir")
    follow = ask(page, "Who founded it?")  # a follow-up of the reopened conversation is kept in it
    expect(follow.locator(".bubble.bot")).to_be_visible()
    expect(convo).to_contain_text("3 questions")

    convo.get_by_role("button", name="Rename “who leads ISIS-K?”").click()
    page.fill("#conversation-list .convo-title", "ISIS-K leadership")
    page.press("#conversation-list .convo-title", "Enter")
    expect(convo.locator(".convo-open")).to_have_text("ISIS-K leadership")
    with page.expect_download() as download:
        convo.get_by_role("button", name="Export “ISIS-K leadership”").click()
    saved = tmp_path / "export.md"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert download.value.suggested_filename == "ISIS-K-leadership.md"
    assert text.startswith("# ISIS-K leadership\n") and "**Q:** who leads ISIS-K?" in text
    assert "“The group is led by an Iraqi militant called Shahab al-Muhajir.”" in text and "· undated)" in text

    page.click("#new-conversation")
    ask(page, "What is ISIS-K?")
    expect(convo).to_have_count(2)
    convo.filter(has_text="ISIS-K leadership").get_by_role("button", name="Delete “ISIS-K leadership”").click()
    expect(convo).to_have_count(1)
    expect(convo.locator(".convo-open")).to_have_text("What is ISIS-K?")


def test_ask_only_within_ticked_articles(page: Page, tmp_path, embed_model):
    with library_server(tmp_path, embed_model, corpus=False) as (url, engine):
        for title, text in (("Dunmore elects a mayor", "In March 2021 the town of Dunmore elected Ilse Varga as its mayor."),
                            ("Dunmore has a new mayor", "In May 2024 Dunmore elected Petra Lind as its mayor.")):  # fmt: skip
            engine.library.add([engine.library.new_article(title=title, text=text)])
        page.goto(url)
        open_library(page)
        page.get_by_role("checkbox", name="Ask only within “Dunmore elects a mayor” (and others ticked)").check()
        chips = page.locator("#scope-chips")
        expect(chips).to_be_visible()
        expect(chips.locator(".chip")).to_have_text(["Dunmore elects a mayor ×"])
        page.click("#library-close")
        turn = ask(page, "Who was elected mayor of Dunmore?")
        expect(turn.locator(".answer")).to_contain_text("Ilse Varga")
        expect(turn.locator(".answer")).not_to_contain_text("Petra Lind")
        expect(turn.locator(".scope-note")).to_have_text("Within 1 chosen article.")
        chips.get_by_role("button", name="Remove “Dunmore elects a mayor” from the scope").click()
        expect(chips).to_be_hidden()
        turn = ask(page, "Who was elected mayor of Dunmore in 2024?")
        expect(turn.locator(".scope-note")).to_have_count(0)
        # ticked on the library page without JavaScript (/?doc=...): the chat page takes them as its scope
        newer = next(d.id for d in engine.library.documents() if d.title == "Dunmore has a new mayor")
        page.goto(f"{url}/?doc={newer}")
        expect(chips.locator(".chip")).to_have_text(["Dunmore has a new mayor ×"])
        turn = ask(page, "Who was elected mayor of Dunmore?")
        expect(turn.locator(".answer")).to_contain_text("Petra Lind")
        expect(turn.locator(".scope-note")).to_have_text("Within 1 chosen article.")
