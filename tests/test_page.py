"""The chat page over real HTTP, without a browser: what the server renders, and the no-JavaScript form."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from qa.engine import QAEngine
from server import create_app
from server.pages import segments
from server.wording import safe_url
from tests.support.articles import HOSTILE
from tests.support.helpers import started


def test_the_page_shows_the_corpus_and_a_strict_policy(client: TestClient):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert re.search(r"from 1 article \(\d+ passages\)", r.text)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<form id="ask" class="ask" method="post" action="/">' in r.text


def test_without_javascript_a_form_post_answers_and_carries_the_conversation(client: TestClient):
    r = client.post("/", data={"question": "who leads ISIS-K?", "history": "[]"})
    assert r.status_code == 200
    assert "Shahab al-Muhajir" in r.text and "<mark>" in r.text and 'href="#src-0-1"' in r.text
    history = json.loads(
        re.search(r'name="history" id="history" value="([^"]*)"', r.text).group(1).replace("&#34;", '"')
    )
    assert [t["role"] for t in history] == ["user", "assistant"]
    follow = client.post("/", data={"question": "Where is he from?", "history": json.dumps(history)})
    assert follow.status_code == 200 and "Iraqi" in follow.text
    assert follow.text.count('class="bubble user"') == 2  # the earlier turn is still on the page


def test_without_javascript_errors_and_abstentions_read_as_such(client: TestClient):
    empty = client.post("/", data={"question": "   ", "history": "[]"})
    assert empty.status_code == 400 and 'role="alert"' in empty.text and "The question is empty." in empty.text
    bad = client.post("/", data={"question": "who?", "history": "{not json"})
    assert bad.status_code == 400 and "history sent with the form is not valid" in bad.text
    off = client.post("/", data={"question": "What is the boiling point of mercury?", "history": "[]"})
    assert off.status_code == 200 and "abstained" in off.text and "Not in the articles" in off.text


def test_article_markup_is_rendered_inert(local_engine: QAEngine):
    with started(TestClient(create_app(engine=local_engine))) as c:
        assert c.post("/api/documents", json=HOSTILE).status_code == 201
        page = c.post("/", data={"question": "What did protesters chant outside the town hall?", "history": "[]"}).text
        question = c.post("/", data={"question": "<script>window.__xss=5</script> who chanted?", "history": "[]"}).text
        doc = c.get("/api/documents").json()[0]["id"]
        listing, article = c.get("/library").text, c.get(f"/library/{doc}").text
    for html in (listing, article):  # the library pages: text, never markup, and no javascript: link
        assert "<script>window" not in html and "<img" not in html and "<b " not in html and "javascript:" not in html
    assert "&lt;b onmouseover=&#34;window.__xss=3&#34;&gt;" in listing and "&lt;script&gt;window.__xss=1" in article
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "<script>window" not in page and "<img" not in page and "<b " not in page
    assert "javascript:" not in page  # the article's javascript: URL is not a link
    assert "<script>window" not in question and "&lt;script&gt;window.__xss=5" in question


def test_only_safe_links_and_real_markers():
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    for bad in ("javascript:alert(1)", "java\tscript:alert(1)", " javascript:alert(1)", "JaVaScRiPt:x", "data:text/html,x",
                "http://exa mple.org", "https:///nohost", "//example.org"):  # fmt: skip
        assert safe_url(bad) is None, bad
    # a quote that itself contains "[2]" must not become a link to a citation that does not exist
    assert segments("Figure [2] shows it. [1]", {1}) == [("Figure [2] shows it. ", None), ("[1]", 1), ("", None)]
