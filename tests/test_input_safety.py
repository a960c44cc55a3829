"""Hostile input, as a fuzzer sends it: YAML alias bombs, deep nesting, bad jsonl records, invalid
Unicode. Each is refused with a 4xx and a message that says why (or, for one bad jsonl record, skipped
while the rest is indexed), quickly, and never reaches a 500 or the index."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.engine import QAEngine
from qa.errors import BadInput
from qa.ingest.readers import parse_bytes, read_paths
from qa.schemas import FIELD_LIMITS
from qa.text import MAX_NESTING, InvalidText, check_text, json_too_deep
from server import create_app
from server.schemas import DocumentIn
from tests.support.helpers import started, write

VOLCANO = ("The Kestrel Ridge volcano erupted on Tuesday. Officials said the ash cloud reached nine kilometres. "
           "The mayor of Dunmore, Aileen Varga, ordered the evacuation of 3,200 residents.")  # fmt: skip
HARBOUR = "The harbour at Port Ellis reopened on Monday after the storm. Captain Rhys Morgan led the first ferry out."
JSON = {"content-type": "application/json"}
DEEP = 50_000


def billion_laughs() -> str:
    """Front matter of under 500 bytes whose `title` expands to 9**9 strings when aliases are followed."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    return "---\n" + "\n".join(lines) + "\ntitle: *i\n---\nThe council approved the new bridge on Tuesday.\n"


def app_client(engine: QAEngine):
    return started(TestClient(create_app(engine=engine), base_url="http://localhost"))


@pytest.fixture
def client(shared_corpus_engine: QAEngine):
    """The app over corpus/, for questions (they never change the index)."""
    with app_client(shared_corpus_engine) as c:
        yield c


@pytest.fixture
def own(local_engine: QAEngine):
    """An app over an index of its own holding one article, so refusals can be shown to change nothing."""
    with app_client(local_engine) as c:
        assert c.post("/api/documents", json={"title": "Volcano", "text": VOLCANO}).status_code == 201
        yield c


def snapshot(c: TestClient, engine: QAEngine) -> tuple[list, int]:
    return c.get("/api/documents").json(), engine.library.store.sentences.count()


def assert_refused(r, status: int, *needles: str) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert re.fullmatch(r"[a-z][a-z_]+", error["code"]) and all(n in error["message"] for n in needles), error
    return error


def upload(c: TestClient, name: str, content: str | bytes):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return c.post("/api/documents", files={"file": (name, data, "application/octet-stream")})


# -- YAML front matter ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["laughs.md", "laughs.txt"])
def test_a_billion_laughs_upload_is_refused_at_once_and_stores_nothing(own, local_engine, name):
    bomb = billion_laughs()
    assert len(bomb.encode()) < 500
    before = snapshot(own, local_engine)
    started_at = time.monotonic()
    r = upload(own, name, bomb)
    assert time.monotonic() - started_at < 20  # it took 59 s and 6.3 GB before
    assert_refused(r, 400, "malformed front matter at line 3", "aliases (`*name`) are not allowed")
    assert snapshot(own, local_engine) == before


@pytest.mark.parametrize(
    ("front_matter", "needles"),
    [
        ("title: " + "[" * 100 + "]" * 100, ["malformed front matter", f"nested more than {MAX_NESTING} levels deep"]),
        ("title: x\n" + "note: padding\n" * 6000, ["front matter is too large", "the limit is 65536"]),
        ("title: [Bridge, approved]", ["title must be text, not a list"]),
        ("published: 2021-13-45", ["malformed front matter", "month must be in 1..12"]),
        ('title: "Bridge\\0approved"', ["title contains a NUL character (U+0000) at character 7"]),
        ('author: "Jane \\ud800 Doe"', ["author contains an unpaired surrogate (U+D800)"]),
    ],
)
def test_bad_front_matter_is_refused_with_its_reason(own, local_engine, front_matter, needles):
    before = snapshot(own, local_engine)
    r = upload(own, "bridge.md", f"---\n{front_matter}\n---\n# Bridge\n\nThe council approved the new bridge.\n")
    assert_refused(r, 400, *needles)
    assert snapshot(own, local_engine) == before


def test_every_field_is_capped_as_the_json_api_caps_it(own, local_engine):
    schema = DocumentIn.model_json_schema()["properties"]
    assert schema["title"]["anyOf"][0]["maxLength"] == FIELD_LIMITS["title"] == 1000  # one limit, whichever way in
    assert schema["id"]["anyOf"][0]["maxLength"] == FIELD_LIMITS["id"] == 200
    before = snapshot(own, local_engine)

    too_long = "T" * 1001
    json_api = own.post("/api/documents", json={"title": too_long, "text": HARBOUR})
    assert_refused(json_api, 422, "title", "at most 1000 characters")
    message = "title is too long (1001 characters; the limit is 1000)"
    assert_refused(upload(own, "harbour.md", f"---\ntitle: {too_long}\n---\n{HARBOUR}\n"), 400, message)
    paragraphs = f"<p>{HARBOUR}</p>" * 4
    page = f"<html><head><title>{too_long}</title></head><body><article>{paragraphs}</article></body></html>"
    assert_refused(upload(own, "harbour.html", page), 400, message)
    assert_refused(upload(own, "harbour.md", f"---\nid: {'x' * 201}\n---\n{HARBOUR}\n"), 400, "id is too long (201")
    url = "https://example.org/" + "u" * FIELD_LIMITS["url"]
    assert_refused(upload(own, "harbour.txt", f"---\nurl: {url}\n---\nHarbour\n{HARBOUR}\n"), 400, "url is too long")
    author = own.post("/api/documents", json={"title": "Harbour", "text": HARBOUR, "author": "A" * 1001})
    assert assert_refused(author, 422, "author", "at most 1000 characters")["param"] == "author"
    assert schema["author"]["anyOf"][0]["maxLength"] == FIELD_LIMITS["author"]
    assert snapshot(own, local_engine) == before

    at_limit = "Harbour " + "T" * 992
    ok = upload(own, "harbour.md", f"---\ntitle: {at_limit}\n---\n{HARBOUR}\n")
    assert ok.status_code == 201, ok.text
    assert ok.json()["documents"][0]["title"] == at_limit


def test_a_first_line_too_long_for_a_title_stays_in_the_text(own):
    line = "Port Ellis reopened its harbour on Monday, " + "and the ferries ran again, " * 60 + "officials said."
    r = upload(own, "long-line.txt", line + "\n\nCaptain Rhys Morgan led the first ferry out.\n")
    assert r.status_code == 201, r.text
    doc = own.get("/api/documents/long-line").json()
    assert doc["info"]["title"] == "long-line" and doc["article"]["text"].startswith("Port Ellis reopened")


# -- deep nesting --------------------------------------------------------------------------------
def test_a_deeply_nested_jsonl_upload_is_refused(own, local_engine):
    before = snapshot(own, local_engine)
    r = upload(own, "deep.jsonl", "[" * DEEP + "]" * DEEP + "\n")
    assert_refused(r, 400, f"line 1: nested more than {MAX_NESTING} levels deep; no record in the file could be read")
    r = upload(own, "deep.jsonl", '{"id": "d", "text": ' + "[" * DEEP + "]" * DEEP + "}\n")
    assert_refused(r, 400, "line 1: nested more than")
    assert snapshot(own, local_engine) == before


DEEP_BODIES = [
    ("/api/ask", '{"question": ' + "[" * DEEP + "]" * DEEP + "}"),
    ("/api/ask", '{"question": "who leads?", "history": ' + "[" * DEEP + "]" * DEEP + "}"),
    ("/api/chat/stream", '{"question": ' + "{" * DEEP),  # unclosed, too: refused for its depth before parsing
    ("/v1/chat/completions", '{"model": "news-qa", "messages": ' + "[" * DEEP + "]" * DEEP + "}"),
    ("/api/documents", '{"title": "T", "text": "x", "url": ' + "[" * DEEP + "]" * DEEP + "}"),
]


@pytest.mark.parametrize(("path", "body"), DEEP_BODIES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(DEEP_BODIES)])
def test_a_deeply_nested_json_body_is_a_400(own, local_engine, path, body):
    before = snapshot(own, local_engine)
    r = own.post(path, content=body.encode(), headers=JSON)
    error = assert_refused(r, 400, f"malformed JSON: nested more than {MAX_NESTING} levels deep")
    assert error["type"] == "invalid_request_error"
    assert snapshot(own, local_engine) == before


def test_nesting_is_measured_outside_strings_and_real_requests_pass(own):
    brackets = "[" * 500 + "{" * 500  # inside a string: text, not nesting
    assert not json_too_deep(json.dumps({"question": brackets, "history": []}))
    assert json_too_deep("[" * (MAX_NESTING + 1)) and not json_too_deep("[" * MAX_NESTING + "]" * MAX_NESTING)
    assert not json_too_deep("[" + r'"a \"[[[[", ' * 100 + "1]")  # an escaped quote does not end a string
    chat = {"model": "news-qa", "messages": [{"role": "user", "content": [{"type": "text", "text": "Who ordered the "
            "evacuation?"}]}], "stream_options": {"a": [[[[{"b": [1]}]]]]}, "user": brackets}  # fmt: skip
    r = own.post("/v1/chat/completions", json=chat)
    assert r.status_code == 200 and "Aileen Varga" in r.json()["choices"][0]["message"]["content"]


# -- jsonl records -------------------------------------------------------------------------------
FEED = "\n".join([
    json.dumps({"id": "harbour", "title": "Harbour reopens", "text": HARBOUR}),
    json.dumps({"id": "empty", "title": "Nothing here", "text": ""}),
    "",
    json.dumps({"id": "bridge", "title": "Bridge", "text": "The council of Dunmore approved the Ashby bridge on Friday."}),
    '{"id": "broken", "text": ',
    json.dumps({"id": "nul", "title": "Bad\u0000title", "text": "Some text."}),
]) + "\n"  # fmt: skip


def test_a_bad_jsonl_record_is_skipped_and_the_others_are_indexed(own):
    r = upload(own, "feed.jsonl", FEED)
    assert r.status_code == 201, r.text
    body = r.json()
    assert sorted(body["report"]["added"]) == ["bridge", "harbour"]
    assert [d["id"] for d in body["documents"]] == ["harbour", "bridge"]
    assert [s["line"] for s in body["skipped"]] == [2, 5, 6]
    reasons = [s["reason"] for s in body["skipped"]]
    assert "'empty' has no article text" in reasons[0]
    assert "invalid JSON" in reasons[1]
    assert "title contains a NUL character (U+0000)" in reasons[2]
    answer = own.post("/api/ask", json={"question": "Who led the first ferry out?"}).json()
    assert "Rhys Morgan" in answer["answer"] and answer["citations"][0]["doc_id"] == "harbour"
    assert "empty" not in {d["id"] for d in own.get("/api/documents").json()}


def test_the_skipped_lines_are_in_the_openapi_schema(own):
    spec = own.get("/openapi.json").json()["components"]["schemas"]
    skipped = spec["Added"]["properties"]["skipped"]
    assert skipped["items"]["$ref"].endswith("/SkippedLine") and "line number" in skipped["description"]
    assert set(spec["SkippedLine"]["properties"]) == {"line", "reason"}


def test_a_jsonl_file_of_only_bad_records_is_refused(own, local_engine):
    before = snapshot(own, local_engine)
    lines = [json.dumps({"id": f"e{i}", "text": ""}) for i in range(5)]
    r = upload(own, "empty.jsonl", "\n".join(lines) + "\n")
    assert_refused(
        r,
        400,
        "line 1: article 'e0' has no article text; line 2:",
        "(and 2 more bad lines); no record in the file could",
    )
    assert snapshot(own, local_engine) == before


def test_duplicate_ids_in_one_jsonl_file_keep_the_first(own):
    feed = json.dumps({"id": "a", "text": HARBOUR}) + "\n" + json.dumps({"id": "a", "text": VOLCANO}) + "\n"
    r = upload(own, "dup.jsonl", feed)
    assert r.status_code == 201, r.text
    assert r.json()["skipped"] == [{"line": 2, "reason": "duplicate id 'a' (first on line 1)"}]
    assert "Port Ellis" in own.get("/api/documents/a").json()["article"]["text"]


def test_qa_ingest_skips_a_bad_jsonl_record_with_a_warning_and_indexes_the_rest(cli, tmp_path: Path):
    feed = write(tmp_path / "news" / "feed.jsonl", FEED)
    code, out, err = cli("ingest", str(feed.parent))
    assert code == 1 and "2 added" in out and "3 skipped" in out  # exit 1: something was skipped
    warnings = err.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith(f"qa: warning: skipped {feed}:") for w in warnings)
    assert f"{feed}:2: article 'empty' has no article text" in warnings[0]
    code, out, _ = cli("ask", "Who led the first ferry out?")
    assert code == 0 and "Rhys Morgan" in out
    scan = read_paths([feed], max_bytes=1_000_000)
    assert [a.id for a in scan.articles] == ["harbour", "bridge"]
    assert [s.path for s in scan.skipped] == [f"{feed}:2", f"{feed}:5", f"{feed}:6"]


# -- invalid text --------------------------------------------------------------------------------
QUESTIONS = [
    ("/api/ask", b'{"question": "who \\ud800 leads"}', "question", "unpaired surrogate (U+D800) at character 5"),
    ("/api/chat/stream", b'{"question": "who \\udfff leads"}', "question", "unpaired surrogate (U+DFFF)"),
    ("/api/ask", b'{"question": "who \\u0007 leads"}', "question", "control character (U+0007)"),
    ("/api/ask", b'{"question": "who \\ufffe leads"}', "question", "Unicode noncharacter (U+FFFE)"),
    (
        "/api/ask",
        b'{"question": "who leads?", "history": [{"role": "user", "content": "hi \\u0000"}]}',
        "history.0.content",
        "NUL character (U+0000)",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "news-qa", "messages": [{"role": "user", "content": "who \\ud800 leads"}]}',
        "messages.0.content",
        "unpaired surrogate (U+D800)",
    ),
    (
        "/v1/chat/completions",
        (
            b'{"model": "news-qa", "stream": true, "messages": [{"role": "user", "content": "hi"}, '
            b'{"role": "assistant", "content": "a\\u0000b"}, {"role": "user", "content": "who leads?"}]}'
        ),
        "messages.1.content",
        "NUL character (U+0000)",
    ),
]


@pytest.mark.parametrize(("path", "body", "param", "needle"), QUESTIONS, ids=[f"{p}-{m}" for p, _, m, _ in QUESTIONS])
def test_invalid_text_in_a_question_is_a_400_before_any_model(client: TestClient, path, body, param, needle):
    started_at = time.monotonic()
    r = client.post(path, content=body, headers=JSON)
    assert time.monotonic() - started_at < 5  # it reached the model before, and failed after 8 s
    error = assert_refused(r, 400, f"{param} contains", needle, "send valid Unicode text")
    assert error["param"] == param


def test_a_lone_surrogate_in_the_history_is_refused_by_its_schema(client: TestClient):
    # Turn.content has a max_length, so pydantic itself refuses the string (422) before any handler runs
    body = b'{"question": "who leads?", "history": [{"role": "user", "content": "hi \\ud83d"}]}'
    error = assert_refused(client.post("/api/ask", content=body, headers=JSON), 422, "history.0.content")
    assert error["param"] == "history.0.content" and "unicode" in error["message"].lower()


@pytest.mark.parametrize(
    ("doc", "param", "needle"),
    [
        (
            {"title": "Volcano\u0000erupts", "text": VOLCANO},
            "title",
            "title contains a NUL character (U+0000) at character 8",
        ),
        ({"title": "Volcano", "text": "Lava\u0000flows. " + VOLCANO}, "text", "text contains a NUL character"),
        ({"title": "Volcano", "text": VOLCANO, "author": "Ann\u001bDoe"}, "author", "control character (U+001B)"),
    ],
)
def test_invalid_text_in_a_document_is_a_400_and_stores_nothing(own, local_engine, doc, param, needle):
    before = snapshot(own, local_engine)
    error = assert_refused(own.post("/api/documents", json={**doc, "id": "v2"}), 400, needle)
    assert error["param"] == param
    lone = own.post("/api/documents", content=b'{"title": "Lava \\udc00", "text": "Lava flows."}', headers=JSON)
    assert assert_refused(lone, 400, "title contains an unpaired surrogate (U+DC00)")["param"] == "title"
    txt = upload(own, "nul.txt", "Volcano\n\n" + "x" * 9000 + "\x00 and more text.")  # past the binary sniff
    assert_refused(txt, 400, "text contains a NUL character")
    assert snapshot(own, local_engine) == before


def test_check_text_accepts_real_text_and_names_what_it_refuses():
    real = "Tab\there, lines\r\nand emoji \U0001f30b, accents é, CJK 日本, RTL שלום, zero-width \u200b"
    assert check_text(real, "text") == real
    for bad, what in [("\x00", "NUL character (U+0000)"), ("\x1f", "control character (U+001F)"),
                      ("\ud800", "unpaired surrogate (U+D800)"), ("\ufdd0", "Unicode noncharacter (U+FDD0)"),
                      ("\U0010ffff", "Unicode noncharacter (U+10FFFF)")]:  # fmt: skip
        with pytest.raises(InvalidText, match=r"^title contains an? " + re.escape(what) + " at character 4"):
            check_text("ok " + bad, "title")


# -- regex blow-ups ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("stall.md", "![" * 100_000),
        ("stall.md", "[a](" * 100_000),
        ("stall.md", "**a " * 100_000),
        ("stall.md", "## a" + " " * 50_000 + "#" * 50_000 + "x"),
        ("stall.html", "<title>" * 100_000),
    ],
    ids=["images", "links", "bold", "subheading", "html-title"],
)
def test_markup_cannot_stall_a_file(name, body):
    started_at = time.monotonic()
    try:
        parse_bytes(("Stall\n\n" + body + "\n\nThe end.\n").encode(), name=name, source="api", max_bytes=10**6)
    except BadInput:
        pass  # refusing is fine; taking minutes is not
    assert time.monotonic() - started_at < 20  # these patterns rescanned to the end: minutes before
