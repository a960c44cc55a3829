"""The library without JavaScript, over real HTTP (TestClient, the real app, a real Chroma index and
the real embedding model): list, read, add (pasted or a file), delete after a confirmation; and the
plain words every error on the pages is given. The panel itself is tested in a browser (test_browser.py)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from qa.config import IngestSettings, ServerSettings, Settings
from qa.engine import QAEngine
from server import create_app
from server.wording import plain_error, plural, sentence, size_text
from tests.support.helpers import CORPUS, started

BRIDGE = {
    "title": "Harbor Bridge reopens after eight months of repairs",
    "text": "The Harbor Bridge in Port Ellison reopened to traffic on Monday after eight months of repairs. "
    "The repairs were led by the engineer Marta Lindqvist, who replaced all 212 steel cables. "
    "City officials said the work cost 41 million dollars, less than first planned.",
    "url": "https://example.org/harbor-bridge",
    "published": "2024-05-06",
}
ISIS = "isis-k-explainer"


def _client(tmp_path, embed_model, *, corpus: bool = True, **settings) -> TestClient:
    engine = QAEngine(Settings(data_dir=tmp_path / "data", **settings), embed_model=embed_model)
    if corpus:
        engine.library.ingest([CORPUS])
    return started(TestClient(create_app(engine=engine)))


@pytest.fixture
def lib(tmp_path, embed_model):
    with _client(tmp_path, embed_model) as c:
        yield c


def _text(html: str) -> str:
    """What a reader sees: tags dropped, entities of quotes undone, spaces squeezed."""
    plain = re.sub(r"<[^>]+>", " ", html).replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    return " ".join(plain.split())


def test_the_library_lists_articles_and_shows_one(lib: TestClient):
    r = lib.get("/library")
    assert r.status_code == 200 and "unsafe-inline" not in r.headers["content-security-policy"]
    text = _text(r.text)
    assert "1 article · 5 passages" in text
    assert "Who are ISIS-K? Offshoot terror group threatening to attack in Afghanistan" in text
    assert "isis-k-explainer.txt · 5 passages, 26 sentences" in text
    assert f'href="/library/{ISIS}"' in r.text and f'href="/library/{ISIS}/delete"' in r.text
    assert "<script" not in r.text  # the library pages need no JavaScript

    one = lib.get(f"/library/{ISIS}")
    assert one.status_code == 200
    assert "The group is led by an Iraqi militant called Shahab al-Muhajir." in _text(one.text)
    # a citation's "Read the whole article" link marks the quote in the article
    doc = lib.get(f"/api/documents/{ISIS}").json()["article"]["text"]
    start = doc.index("The group is led by")
    marked = lib.get(f"/library/{ISIS}?start={start}&end={start + 63}")
    assert '<mark id="quote">The group is led by an Iraqi militant called Shahab al-Muhajir.</mark>' in marked.text
    for bad in ("start=9&end=3", "start=-1&end=5", "start=a&end=b", f"start=0&end={len(doc) + 1}"):
        assert "<mark" not in lib.get(f"/library/{ISIS}?{bad}").text, bad

    gone = lib.get("/library/no-such-article")
    assert gone.status_code == 404 and "That article is no longer in the library." in gone.text


def test_the_chat_page_links_the_library_and_each_source_to_its_article(lib: TestClient):
    page = lib.get("/")
    assert 'id="library-toggle" class="button secondary" href="/library"' in page.text
    assert "from 1 article (5 passages)" in _text(page.text)
    answer = lib.post("/", data={"question": "who leads ISIS-K?", "history": "[]"})
    assert re.search(rf'href="/library/{ISIS}\?start=\d+&amp;end=\d+#quote">Read the whole article</a>', answer.text)


def test_add_by_pasting_ask_about_it_then_delete_it(lib: TestClient):
    added = lib.post("/library", data=BRIDGE, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/library?added=harbor-bridge-reopens-after-eight-months-of-repairs"
    listing = lib.get(added.headers["location"])
    text = _text(listing.text)
    assert "Added “Harbor Bridge reopens after eight months of repairs”: 1 passage, 3 sentences." in text
    assert "2 articles · 6 passages" in text and "2024-05-06 · example.org · 1 passage, 3 sentences" in text

    asked = lib.post("/", data={"question": "Who led the repairs of the Harbor Bridge?", "history": "[]"})
    assert "Marta Lindqvist" in asked.text and "<mark>" in asked.text
    assert "Harbor Bridge reopens after eight months of repairs" in _text(asked.text)  # the source's title

    again = lib.post("/library", data=BRIDGE)  # the same text again: nothing new, said so
    assert again.status_code == 200
    assert "“Harbor Bridge reopens after eight months of repairs” is already in the library, unchanged." in _text(again.text)

    doc = "harbor-bridge-reopens-after-eight-months-of-repairs"
    confirm = lib.get(f"/library/{doc}/delete")  # a link only asks; it deletes nothing
    assert confirm.status_code == 200 and "Delete “Harbor Bridge reopens after eight months of repairs”?" in _text(confirm.text)
    assert "Its 3 sentences leave the index" in _text(confirm.text)
    assert lib.get(f"/api/documents/{doc}").status_code == 200
    assert f'<form method="post" action="/library/{doc}/delete"' in confirm.text

    deleted = lib.post(f"/library/{doc}/delete", follow_redirects=False)
    assert deleted.status_code == 303
    after = lib.get(deleted.headers["location"])
    assert "Deleted “Harbor Bridge reopens after eight months of repairs”." in _text(after.text)
    assert "1 article · 5 passages" in _text(after.text)
    assert lib.get(f"/library/{doc}").status_code == 404
    asked = lib.post("/", data={"question": "Who led the repairs of the Harbor Bridge?", "history": "[]"})
    assert asked.status_code == 200 and "Marta Lindqvist" not in asked.text


def test_add_a_file_and_refusals_in_plain_words(lib: TestClient):
    note = "---\ntitle: Ferry timetable changes\npublished: 2024-06-01\n---\nThe ferry to Port Ellison runs every 40 minutes from June.\n"
    r = lib.post("/library", files={"file": ("ferry.md", note.encode(), "text/markdown")}, follow_redirects=False)
    assert r.status_code == 303
    assert "Added “Ferry timetable changes”: 1 passage, 1 sentence." in _text(lib.get(r.headers["location"]).text)

    cases = [
        ({"files": {"file": ("photo.png", b"\x89PNG ...", "image/png")}}, 415,
         "Could not add “photo.png”: unsupported file type '.png'; use .txt, .md, .markdown, .html, .htm, .jsonl, .pdf, .docx."),
        ({"files": {"file": ("report.pdf", b"%PDF-1.4 ...", "application/pdf")}}, 415, "Could not add “report.pdf”: not a readable PDF"),
        ({"files": {"file": ("empty.txt", b"", "text/plain")}}, 400, "Could not add “empty.txt”: empty file."),
        ({"files": {"file": ("big.txt", b"word " * 1_000_001, "text/plain")}}, 413, "That file is too large (the limit is 5 MB)."),
        ({"files": {"file": ("", b"", "application/octet-stream")}, "data": {"title": "", "text": ""}}, 400,
         "Give the article a title and its text, or choose a file."),
        ({"data": {"title": "A title", "text": "   "}}, 400, "Give the article a title and its text, or choose a file."),
        ({"data": {"title": "x" * 1001, "text": "Some text."}}, 400, "Title is too long (1001 characters; the limit is 1000)."),
    ]  # fmt: skip
    for kwargs, status, words in cases:
        refused = lib.post("/library", **kwargs)
        assert refused.status_code == status and words in _text(refused.text), (status, _text(refused.text)[:300])
        assert 'role="alert"' in refused.text and "Error" not in _text(refused.text)
    kept = lib.post("/library", data={"title": "Kept title", "text": " "})  # what was typed stays in the form
    assert 'value="Kept title"' in kept.text


KESTERTON = ("Kesterton rail bridge to be demolished\n\nThe Kesterton rail bridge will be demolished next spring after "
             "engineers found cracks in two of its piers. Trains will run over a temporary crossing while a new bridge is built.\n")
PORT_ELVIRA = ("Port Elvira footbridge reopens\n\nThe footbridge over the harbour at Port Elvira reopened on Saturday after "
               "a year of repairs. The repairs cost 2.1 million and replaced every plank of the deck.\n")


def test_a_file_named_like_another_story_is_added_beside_it_then_replaces_it(tmp_path, embed_model):
    def send(text: str):
        return c.post("/library", files={"file": ("bridge.txt", text.encode(), "text/plain")}, data={"api_key": "k"},
                      follow_redirects=False)  # fmt: skip

    with _client(tmp_path, embed_model, api_key=SecretStr("k")) as c:
        assert send(KESTERTON).status_code == 303
        beside = send(PORT_ELVIRA)
        assert beside.status_code == 200  # not redirected: the page has something to ask
        assert ("Added “Port Elvira footbridge reopens” beside “Kesterton rail bridge to be demolished”: its file has "
                "the same name but tells another story.") in _text(beside.text)  # fmt: skip
        assert "3 articles" in _text(beside.text) and re.search(r'class="doc fresh" data-id="bridge-2"', beside.text)
        form = re.search(r'<form method="post" action="/library/bridge-2/move".*?</form>', beside.text, re.S).group(0)
        assert '<input type="hidden" name="to" value="bridge">' in form and 'name="api_key"' in form
        assert "Replace “Kesterton rail bridge to be demolished” with it" in _text(form)

        wrong = c.post("/library/bridge-2/move", data={"to": "bridge", "api_key": "wrong"})
        assert wrong.status_code == 401 and "That API key was not accepted" in _text(wrong.text)
        assert 'action="/library/bridge-2/move"' in wrong.text  # the form again, to type the key into
        moved = c.post("/library/bridge-2/move", data={"to": "bridge", "api_key": "k"})
        assert moved.status_code == 200
        assert "“Port Elvira footbridge reopens” replaced “Kesterton rail bridge to be demolished”." in _text(moved.text)
        assert re.search(r'class="doc fresh" data-id="bridge"', moved.text) and "/move" not in moved.text
        docs = {d["id"]: d["title"] for d in c.get("/api/documents").json()}
        assert docs == {ISIS: docs[ISIS], "bridge": "Port Elvira footbridge reopens"}

        gone = c.post("/library/bridge-2/move", data={"to": "bridge", "api_key": "k"})  # sent again: already done
        assert gone.status_code == 404 and "That article is no longer in the library." in _text(gone.text)
        bad = c.post("/library/bridge/move", data={"to": "Not A Slug", "api_key": "k"})
        assert bad.status_code == 422 and "such as 'not-a-slug'" in _text(bad.text) and "Error" not in _text(bad.text)
        assert c.post("/library/bridge/move", data={"api_key": "k"}).status_code == 400


def test_writes_need_the_key_when_one_is_set(tmp_path, embed_model):
    with _client(tmp_path, embed_model, api_key=SecretStr("right-key")) as c:
        page = c.get("/library")
        assert page.status_code == 200 and 'name="api_key"' in page.text  # reads are open, writes ask for it
        refused = c.post("/library", data=BRIDGE)
        assert refused.status_code == 401
        assert "This needs the API key: enter it in the API key field and try again." in _text(refused.text)
        assert 'value="Harbor Bridge reopens after eight months of repairs"' in refused.text  # nothing typed is lost
        wrong = c.post("/library", data={**BRIDGE, "api_key": "wrong"})
        assert wrong.status_code == 401 and "That API key was not accepted. Check it and try again." in _text(wrong.text)
        assert c.get("/api/documents").json()[0]["id"] == ISIS and len(c.get("/api/documents").json()) == 1
        ok = c.post("/library", data={**BRIDGE, "api_key": "right-key"}, follow_redirects=False)
        assert ok.status_code == 303

        doc = "harbor-bridge-reopens-after-eight-months-of-repairs"
        again = c.post(f"/library/{doc}/delete", data={"api_key": "wrong"})
        assert again.status_code == 401 and "Delete “Harbor Bridge" in _text(again.text)  # the confirmation, asking again
        assert "That API key was not accepted" in _text(again.text)
        assert c.post(f"/library/{doc}/delete", data={"api_key": "right-key"}, follow_redirects=False).status_code == 303
        # another site's page cannot post the form through a visitor's browser, key or no key
        foreign = c.post("/library", data={**BRIDGE, "api_key": "right-key"}, headers={"Sec-Fetch-Site": "cross-site"})
        assert foreign.status_code == 403
        own = c.post("/library", data={**BRIDGE, "api_key": "right-key"}, headers={"Sec-Fetch-Site": "same-origin"},
                     follow_redirects=False)  # fmt: skip
        assert own.status_code == 303


def test_protected_reads_keep_the_library_closed_without_the_key(tmp_path, embed_model):
    server = ServerSettings(protect_reads=True)
    with _client(tmp_path, embed_model, api_key=SecretStr("k"), server=server) as c:
        for path in ("/library", f"/library/{ISIS}", f"/library/{ISIS}/delete"):
            r = c.get(path)
            assert r.status_code == 401 and "protected by an API key" in r.text and "Shahab" not in r.text, path
        assert c.get("/library", headers={"X-API-Key": "k"}).status_code == 200


def test_an_empty_library_says_what_to_do_first(tmp_path, embed_model):
    with _client(tmp_path, embed_model, corpus=False) as c:
        page = _text(c.get("/").text)
        assert "No articles yet: add one in the Library, then ask about it." in page
        assert "Nothing is indexed yet. Open the Library" in page
        asked = c.post("/", data={"question": "who leads ISIS-K?", "history": "[]"})
        assert asked.status_code == 409 and "Nothing is indexed yet: add an article in the Library first." in _text(asked.text)
        assert "0 articles" in _text(c.get("/library").text)


def test_the_upload_limit_shown_is_the_one_enforced(tmp_path, embed_model):
    with _client(tmp_path, embed_model, corpus=False, ingest=IngestSettings(max_file_bytes=2_500)) as c:
        page = c.get("/")
        assert 'data-max-upload="2500"' in page.text and "up to 2.5 kB" in _text(page.text)
        r = c.post("/library", files={"file": ("long.txt", b"A sentence here. " * 200, "text/plain")})
        assert r.status_code == 413 and "That file is too large (the limit is 2.5 kB)." in _text(r.text)


def test_a_favicon_at_the_usual_address():
    from server.pages import HERE

    with TestClient(create_app(Settings())) as c:  # no index needed
        ico = c.get("/favicon.ico")
        assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
        assert ico.content[:4] == b"\x00\x00\x01\x00" and ico.content == (HERE / "static" / "favicon.ico").read_bytes()
        assert "max-age" in ico.headers["cache-control"]
        svg = c.get("/static/favicon.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert c.head("/favicon.ico").status_code == 200


# -- words ---------------------------------------------------------------------------------------
def test_plurals_and_sizes():
    assert [plural(n, "passage") for n in (0, 1, 2)] == ["0 passages", "1 passage", "2 passages"]
    assert plural(1, "article") == "1 article" and plural(12_345, "sentence") == "12,345 sentences"
    assert [size_text(n) for n in (5_000_000, 6_500_000, 2_500, 999)] == ["5 MB", "6.5 MB", "2.5 kB", "999 bytes"]
    assert sentence("the question is empty") == "The question is empty." and sentence("Done!") == "Done!"


def test_errors_are_plain_sentences_never_class_names():
    cases = {
        (503, "the search index is not reachable; try again in a moment (Chroma at 127.0.0.1:8000)", "index_unreachable"):
            "The search index is not reachable; try again in a moment.",
        (503, "another process is writing to the index", "index_busy"): "Another process is writing to the index; try again in a moment.",
        (503, "the service is not ready: still loading the model and index", "backend_unavailable"):
            "The service is still starting up; try again in a moment.",
        (500, "something went wrong on the server; the server log has the details", "internal_error"):
            "Something went wrong on our side; try again.",
        (500, "internal error (InternalError); the server log has details", None): "Something went wrong on our side; try again.",
        (502, "", None): "Something went wrong on our side; try again.",
        (401, "a valid API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`", "invalid_api_key"):
            "This needs the API key: enter it in the API key field and try again.",
        (403, "cross-site request refused: ...", "cross_site_refused"): "This needs the API key: enter it in the API key field and try again.",
        (409, "nothing is indexed yet: add articles first (`qa ingest` or POST /api/documents)", "nothing_indexed"):
            "Nothing is indexed yet: add an article in the Library first.",
        (400, "title is too long (1200 characters; the limit is 1000)", None): "Title is too long (1200 characters; the limit is 1000).",
        (400, "bad thing (ValueError)", None): "That did not work; check what you entered and try again.",
    }  # fmt: skip
    for (status, message, code), words in cases.items():
        assert plain_error(status, message, code=code) == words, (status, message)
    assert plain_error(401, key_sent=True) == "That API key was not accepted. Check it and try again."
    assert plain_error(413, "file is too large", what="file", limit=5_000_000) == "That file is too large (the limit is 5 MB)."
    assert plain_error(404, "no article with id 'x'", what="article") == "That article is no longer in the library."


def test_a_one_sentence_article_is_named_in_the_singular(lib: TestClient):
    added = lib.post("/library", data={"title": "Tide tables", "text": "The tide tables for May are out."}, follow_redirects=False)
    doc = added.headers["location"].split("added=")[1]
    assert "Its one sentence leaves the index" in _text(lib.get(f"/library/{doc}/delete").text)
