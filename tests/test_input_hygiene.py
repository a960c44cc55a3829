"""Issue 21, "Nothing lost, nothing slipped in", through the real app (TestClient, a real Chroma index,
the real embedding model), the real uvicorn server and the real CLI:

- the no-JavaScript /library page answers every refusal in its own words, a body over the request
  limit included, and takes pasted text up to the article limit (not Starlette's 1 MB per field);
- a one-paragraph .txt is an article titled by its first sentence, not a refusal;
- control characters are C0, DEL and C1 alike, wherever text comes in; invalid UTF-8 in a form is
  refused, not turned into U+FFFD;
- two Host headers are refused; the README lists every error code; `?deleted=` shows only a banner the
  server put there."""

from __future__ import annotations

import html
import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.config import Settings
from qa.engine import QAEngine
from qa.ingest.readers import parse_bytes, read_paths
from qa.text import InvalidText, check_text
from server import create_app
from tests.support.helpers import ROOT, started, write

BASE = "http://127.0.0.1"
VOLCANO = ("The Kestrel Ridge volcano erupted on Tuesday. Officials said the ash cloud reached nine kilometres. "
           "The mayor of Dunmore, Aileen Varga, ordered the evacuation of 3,200 residents.")  # fmt: skip
CONTROLS = ["\x7f", "\x85", "\x9b"]  # DEL, NEL (C1), CSI (C1)


def _client(tmp_path: Path, embed_model, **settings) -> TestClient:
    engine = QAEngine(Settings(data_dir=tmp_path / "data", **settings), embed_model=embed_model)
    return started(TestClient(create_app(engine=engine), base_url=BASE))


@pytest.fixture
def app(tmp_path, embed_model):
    """The app with the default limits (6 MB a request, 5 MB an article) over an index of its own."""
    with _client(tmp_path, embed_model) as c:
        assert c.post("/api/documents", json={"title": "Volcano", "text": VOLCANO}).status_code == 201
        yield c


def page_text(r: httpx.Response) -> str:
    """What a reader of an HTML answer sees: tags dropped, entities undone, spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split())


def page_error(r: httpx.Response) -> str:
    """The refusal a page shows (the library's banner, or the chat page's answer bubble)."""
    assert r.headers["content-type"].startswith("text/html"), (r.status_code, r.headers["content-type"], r.text[:300])
    m = re.search(r'<(?:p|div) [^>]*role="alert"[^>]*>(.*?)</(?:p|div)>', r.text, re.DOTALL)
    assert m, r.text[:2000]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split())


def multipart(fields: dict[str, bytes], file: tuple[str, bytes] | None = None) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body as a browser sends it, with raw bytes in the fields."""
    boundary = b"----qa-hygiene-boundary"
    out = bytearray()
    for name, value in fields.items():
        disposition = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
        out += b"--" + boundary + b"\r\n" + disposition + b"\r\n\r\n" + value + b"\r\n"
    if file is not None:
        out += (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="' + file[0].encode()
                + b'"\r\nContent-Type: text/plain\r\n\r\n' + file[1] + b"\r\n")  # fmt: skip
    out += b"--" + boundary + b"--\r\n"
    return bytes(out), {"Content-Type": "multipart/form-data; boundary=" + boundary.decode()}


def titles(c: TestClient) -> list[str]:
    return sorted(d["title"] for d in c.get("/api/documents").json())


# -- 1. the library page's own words for every refusal --------------------------------------------
def test_a_file_over_the_request_limit_gets_the_pages_sentence_like_one_over_the_article_limit(app: TestClient):
    before = titles(app)
    for size in (5_500_000, 6_500_000):  # over the article limit (5 MB); over the request limit (6 MB) too
        r = app.post("/library", files={"file": ("big.txt", b"word " * (size // 5), "text/plain")})
        assert r.status_code == 413
        assert page_error(r) == "That file is too large (the limit is 5 MB).", size
        assert "Add an article" in page_text(r) and "1 article" in page_text(r)  # the library page itself
    assert titles(app) == before


def test_the_chat_form_and_the_delete_form_answer_a_body_over_the_limit_with_a_page(app: TestClient):
    asked = app.post("/", data={"question": "who " * 1_600_000, "history": "[]"})
    assert asked.status_code == 413 and page_error(asked) == "Sorry, that did not work. That question is too large."
    gone = app.post("/library/volcano/delete", files={"api_key": (None, b"k" * 6_100_000)})
    assert gone.status_code == 413 and page_error(gone) == "That request is too large."
    assert titles(app) == ["Volcano"]


def test_api_clients_still_get_the_json_error_body(app: TestClient):
    r = app.post("/api/documents", json={"title": "Big", "text": "word " * 1_300_000})
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "too_large" and "request body is too large" in r.json()["error"]["message"]


def test_pasted_text_may_be_as_large_as_an_article(app: TestClient):
    # 1.5 MB of text is no longer cut off at Starlette's 1 MB a field: it reaches the checks (here,
    # a DEL at its very end, found at its place)
    text = "The ash cloud grew. " * 75_000 + "\x7f"
    r = app.post("/library", files={"title": (None, b"Ash"), "text": (None, text.encode())})
    assert r.status_code == 400
    words = f"Text contains a control character (U+007F) at character {len(text)}; send valid Unicode text."
    assert page_error(r) == words
    big = app.post("/library", files={"title": (None, b"Ash"), "text": (None, b"Ash fell. " * 550_000)})
    assert big.status_code == 413 and page_error(big) == "That article is too large (the limit is 5 MB)."
    assert 'value="Ash"' in big.text  # the title typed stays in the form
    assert titles(app) == ["Volcano"]


def test_a_malformed_form_is_a_sentence_not_json(app: TestClient):
    body, headers = multipart({"title": b"x"})
    no_boundary = app.post("/library", content=body, headers={"Content-Type": "multipart/form-data"})
    assert no_boundary.status_code == 400
    assert page_error(no_boundary) == "The form could not be read (missing boundary in multipart)."
    body, headers = multipart({f"f{i}": b"x" for i in range(20)})
    crowded = app.post("/library", content=body, headers=headers)
    assert crowded.status_code == 400
    assert page_error(crowded) == "The form could not be read (too many fields; maximum number of fields is 10)."
    asked = app.post("/", content=b"&".join(b"f%d=x" % i for i in range(200)),  # more than the question, history, mode, key and 100 ticked articles
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert asked.status_code == 400
    assert page_error(asked).startswith("Sorry, that did not work. The form could not be read")


# -- 2. a one-paragraph .txt ------------------------------------------------------------------------
def test_a_one_paragraph_txt_is_an_article_titled_by_its_first_sentence(app: TestClient, tmp_path: Path):
    r = app.post("/api/documents", files={"file": ("ferry-note.txt", b"The ferry to Port Ellison now runs every "
                                          b"40 minutes. Tickets cost 4 euros.\n", "text/plain")})  # fmt: skip
    assert r.status_code == 201, r.text
    info = r.json()["documents"][0]
    assert info["title"] == "The ferry to Port Ellison now runs every 40 minutes."
    text = app.get(f"/api/documents/{info['id']}").json()["article"]["text"]
    assert text == "The ferry to Port Ellison now runs every 40 minutes. Tickets cost 4 euros."

    long_first = "The council " + "and the mayor " * 80 + "approved it"  # one sentence, over 1,000 characters
    parsed = parse_bytes((long_first + ". Then it rained.\n").encode(), name="Council vote.txt", source="api",
                         max_bytes=10_000)  # fmt: skip
    assert parsed.articles[0].title == "Council vote"  # failing a short sentence: the file's name
    assert parsed.articles[0].text.startswith("The council and the mayor")

    folder = tmp_path / "notes"
    write(folder / "one-line.txt", "Storm closes the harbour road for two days.\n")
    write(folder / "titled.txt", "Storm closes the road\n\nThe harbour road is closed for two days.\n")
    scan = read_paths([folder], max_bytes=10_000)
    assert not scan.skipped
    assert [(a.title, a.text) for a in scan.articles] == [
        ("Storm closes the harbour road for two days.", "Storm closes the harbour road for two days."),
        ("Storm closes the road", "The harbour road is closed for two days."),  # more paragraphs: the first line
    ]


def test_the_readme_says_how_a_txt_is_titled():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "first line" in readme and "first sentence" in readme


# -- 3. control characters: C0, DEL and C1 -----------------------------------------------------------
def test_check_text_refuses_del_and_c1_and_keeps_tab_newline_and_cr():
    assert check_text("Tab\there,\nlines\r\n and é, \u00a0, \u00a1", "text").startswith("Tab")
    for ch in CONTROLS + ["\x80", "\x9f"]:
        words = rf"^title contains a control character \(U\+{ord(ch):04X}\) at character 4;"
        with pytest.raises(InvalidText, match=words):
            check_text("ok " + ch, "title")


@pytest.mark.parametrize("ch", CONTROLS, ids=["DEL", "NEL", "CSI"])
def test_del_and_c1_are_refused_through_the_api(app: TestClient, ch: str):
    what = f"control character (U+{ord(ch):04X})"
    asked = app.post("/api/ask", json={"question": f"who {ch} leads"})
    assert asked.status_code == 400 and what in asked.json()["error"]["message"]
    assert asked.json()["error"]["param"] == "question"
    doc = app.post("/api/documents", json={"title": f"Lava{ch}flows", "text": VOLCANO, "id": "lava"})
    assert doc.status_code == 400 and doc.json()["error"]["message"].startswith(f"title contains a {what}")
    lava = ("lava.txt", f"Lava\n\nLava {ch}flows.\n".encode(), "text/plain")
    upload = app.post("/api/documents", files={"file": lava})
    assert upload.status_code == 400 and f"text contains a {what}" in upload.json()["error"]["message"]
    messages = [{"role": "user", "content": f"hi{ch}"}]
    chat = app.post("/v1/chat/completions", json={"model": "news-qa", "messages": messages})
    assert chat.status_code == 400 and what in chat.json()["error"]["message"]
    assert titles(app) == ["Volcano"]


@pytest.mark.parametrize("ch", CONTROLS, ids=["DEL", "NEL", "CSI"])
def test_del_and_c1_are_refused_through_the_forms(app: TestClient, ch: str):
    what = f"control character (U+{ord(ch):04X})"
    added = app.post("/library", data={"title": "Lava", "text": f"Lava{ch} flows."})
    assert added.status_code == 400
    assert page_error(added) == f"Text contains a {what} at character 5; send valid Unicode text."
    asked = app.post("/", data={"question": f"who{ch} leads?", "history": "[]"})
    assert asked.status_code == 400 and what in page_error(asked)
    assert titles(app) == ["Volcano"]


def test_del_and_c1_are_refused_by_the_cli(cli, tmp_path: Path):
    folder = tmp_path / "in"
    write(folder / "good.txt", "Volcano\n\n" + VOLCANO + "\n")
    write(folder / "bad.txt", "Lava\n\nLava\u0085flows over the road.\n")
    code, _, err = cli("ingest", str(folder))
    assert code == 1 and "bad.txt" in err and "control character (U+0085)" in err
    code, out, _ = cli("docs", "list", "--json")
    assert code == 0 and [d["id"] for d in json.loads(out)] == ["good"]
    code, _, err = cli("ask", "who\x7f ordered the evacuation?")
    assert code != 0 and "control character (U+007F)" in err


def test_invalid_utf8_in_a_form_is_refused_not_replaced(app: TestClient):
    body, headers = multipart({"title": b"Lava", "text": b"Lava flows \xff\xfe over the road."})
    r = app.post("/library", content=body, headers=headers)
    assert r.status_code == 400
    assert page_error(r) == "Text is not valid UTF-8 (invalid byte 0xFF at byte 12); send the form as UTF-8."
    asked = app.post("/", content=b"question=who%FF+leads%3F&history=%5B%5D",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert asked.status_code == 400
    assert page_error(asked) == ("Sorry, that did not work. Question is not valid UTF-8 (invalid byte 0xFF at byte 4); "
                                 "send the form as UTF-8.")
    # real UTF-8, U+FFFD itself included, still gets through
    ok = app.post("/", data={"question": "who ordered the evacuation in Dunmore? \ufffd é", "history": "[]"})
    assert ok.status_code == 200 and "Aileen Varga" in page_text(ok)
    assert titles(app) == ["Volcano"]


# -- 4. smaller items ---------------------------------------------------------------------------------
def test_two_host_headers_are_refused(app: TestClient):
    for hosts in (["127.0.0.1", "evil.example"], ["127.0.0.1", "127.0.0.1"]):
        r = app.get("/healthz", headers=[("Host", h) for h in hosts])
        assert r.status_code == 400 and r.headers["content-type"] == "application/json"
        error = r.json()["error"]
        assert error["code"] == "invalid_request" and "2 Host headers" in error["message"], error


def test_two_host_headers_are_refused_by_the_real_server(live_url: str):
    url = httpx.URL(live_url)
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{url.port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    with socket.create_connection((url.host, url.port), timeout=10) as s:
        s.sendall(request.encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b'"error"' in reply and b"2 Host headers" in reply


def test_the_readme_lists_every_error_code():
    import qa.errors
    import qa.ingest.readers
    import qa.text
    from server.errors import code_for

    def subclasses(cls):
        return {cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))}

    codes = {c.code for c in subclasses(qa.errors.QAError)}
    codes |= {code_for(status) for status in (400, 401, 403, 404, 405, 413, 415, 500)}
    codes |= {"invalid_json", "model_not_found"}
    readme = " ".join((ROOT / "docs" / "api.md").read_text(encoding="utf-8").split())
    start = readme.index("`code` is a string")
    listed = readme[start : readme.index("whose message never names", start)]
    assert "unsupported_content" in codes and not [c for c in sorted(codes) if f"`{c}`" not in listed]


def test_deleted_shows_a_banner_only_the_server_put_there(app: TestClient):
    for forged in ("<b>Your account is locked: call 555-0100</b>", "Volcano", ""):
        r = app.get("/library", params={"deleted": forged})
        assert r.status_code == 200 and 'id="banner"' not in r.text and "555-0100" not in r.text, forged
    gone = app.post("/library/volcano/delete", follow_redirects=False)
    assert gone.status_code == 303
    after = app.get(gone.headers["location"])
    assert re.search(r'id="banner"[^>]*>Deleted “Volcano”\.</p>', after.text)
    tampered = gone.headers["location"].replace("Volcano", "Volcanoes")
    assert 'id="banner"' not in app.get(tampered).text


# -- the chat page's library panel says what the page says --------------------------------------------
NODE = shutil.which("node")


def panel_words(status: int, error: dict | None, what: str) -> str:
    """plainError of common.js (what the panel shows for a refusal of the JSON API), run by node."""
    shim = ('global.document = {documentElement: {classList: {add() {}}}, body: {dataset: {maxUpload: "5000000"}},'
            ' querySelector() { return null; }, addEventListener() {}};')  # fmt: skip
    script = shim + (ROOT / "server/static/common.js").read_text() + (
        f"\nprocess.stdout.write(plainError({status}, {json.dumps(error)}, {json.dumps(what)}));"
    )
    return subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.skipif(NODE is None, reason="node is missing")
def test_the_panel_and_the_page_refuse_pasted_text_in_the_same_words(app: TestClient):
    cases = [
        {"title": "Lava", "text": "Lava\x7f flows."},  # a control character
        {"title": "Ash", "text": "Ash fell. " * 550_000},  # over the article limit
        {"title": "Ash", "text": "Ash fell. " * 650_000},  # over the request limit too
    ]
    for fields in cases:
        api = app.post("/api/documents", json=fields)  # what the panel sends
        page = app.post("/library", files={k: (None, v.encode()) for k, v in fields.items()})
        assert api.status_code == page.status_code and api.status_code in (400, 413), api.text[:200]
        assert panel_words(api.status_code, api.json()["error"], "article") == page_error(page)
    assert titles(app) == ["Volcano"]
