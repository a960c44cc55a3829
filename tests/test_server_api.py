"""The HTTP API through the real app: answers, streaming, documents, refusals, keys, concurrency."""

from __future__ import annotations

import re
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from evals.live import free_port, serving
from qa.answer.extractive import ABSTAIN_TEXT
from qa.config import ChromaSettings, ServerSettings, Settings
from qa.engine import QAEngine
from server import create_app
from tests.support.helpers import CORPUS, chroma_run, started

LEADER = "who leads ISIS-K?"


def events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def article_text(client: TestClient, doc_id: str) -> str:
    r = client.get(f"/api/documents/{doc_id}")
    assert r.status_code == 200, r.text
    return r.json()["article"]["text"]


@pytest.fixture
def own_client(local_engine: QAEngine):
    """An app over an empty index of its own, for tests that write."""
    with started(TestClient(create_app(engine=local_engine))) as c:
        yield c


# -- start-up ------------------------------------------------------------------------------------
def test_health_and_ready(client: TestClient):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "detail": None, "articles": 1, "llm": None}


def test_a_failed_start_is_reported_not_crashed(tmp_path):
    # a Chroma server that is not there (yet): liveness holds, readiness and questions say why
    settings = Settings(data_dir=tmp_path / "d", chroma=ChromaSettings(host="127.0.0.1", port=free_port()))
    with TestClient(create_app(settings)) as c:
        rt = c.app.state.runtime
        rt.ready.wait(0.1)
        assert c.get("/healthz").status_code == 200
        ask = c.post("/api/ask", json={"question": LEADER})
        ready = c.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"  # and tried again
    assert "Chroma" in ready.json()["detail"]
    assert ask.status_code == 503 and "not ready" in ask.json()["error"]["message"]


def test_openapi_docs_are_served_offline(client: TestClient):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/swagger/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    assert client.get("/swagger/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/ask",
        "/api/chat/stream",
        "/api/documents",
        "/api/documents/{doc_id}",
        "/v1/chat/completions",
        "/v1/models",
    } <= set(paths)


# -- answers -------------------------------------------------------------------------------------
def test_ask_quotes_the_article_exactly(client: TestClient):
    r = client.post("/api/ask", json={"question": LEADER})
    assert r.status_code == 200
    body = r.json()
    assert "Shahab al-Muhajir" in body["answer"] and not body["abstained"]
    first = body["citations"][0]
    assert first["quote"] in body["answer"] and "[1]" in body["answer"]
    assert article_text(client, first["doc_id"])[first["start"] : first["end"]] == first["quote"]


def test_follow_up_uses_the_history(client: TestClient):
    first = client.post("/api/ask", json={"question": LEADER}).json()
    history = [{"role": "user", "content": LEADER}, {"role": "assistant", "content": first["answer"]}]
    r = client.post("/api/ask", json={"question": "Where is he from?", "history": history})
    assert r.status_code == 200 and "Iraqi" in r.json()["answer"]
    assert r.json()["resolved_question"]


def test_a_question_the_articles_cannot_answer_abstains(client: TestClient):
    body = client.post("/api/ask", json={"question": "What is the boiling point of mercury?"}).json()
    assert body["abstained"] and body["answer"] == ABSTAIN_TEXT and body["citations"] == []


def test_a_long_conversation_keeps_working(client: TestClient):
    first = client.post("/api/ask", json={"question": LEADER}).json()
    chatter = [
        {"role": "user", "content": "What does the K stand for?"},
        {"role": "assistant", "content": "Khorasan [1]"},
    ] * 40
    history = [*chatter, {"role": "user", "content": LEADER}, {"role": "assistant", "content": first["answer"]}]
    r = client.post("/api/ask", json={"question": "Where is he from?", "history": history})
    assert r.status_code == 200 and "Iraqi" in r.json()["answer"]


def test_top_k_is_honoured(client: TestClient):
    body = client.post("/api/ask", json={"question": LEADER, "top_k": 1}).json()
    assert {c["passage_start"] for c in body["citations"]} == {body["citations"][0]["passage_start"]}


# -- streaming -----------------------------------------------------------------------------------
def test_stream_sends_citations_then_deltas_then_done(client: TestClient):
    with client.stream("POST", "/api/chat/stream", json={"question": LEADER}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        got = events(r.read().decode())
    names = [e for e, _ in got]
    assert names[0] == "citations" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) > 5
    done = got[-1][1]
    assert "".join(d["text"] for e, d in got if e == "delta") == done["answer"]
    assert got[0][1]["citations"] == done["citations"] and "Shahab al-Muhajir" in done["answer"]


def test_a_failure_after_the_stream_started_is_an_error_event(tmp_path, embed_model):
    # the Chroma server goes away between the request's checks and the search: reported in-band
    with chroma_run(tmp_path) as (host, port, chroma):
        settings = Settings(data_dir=tmp_path / "d", chroma=ChromaSettings(host=host, port=port))
        engine = QAEngine(settings, embed_model=embed_model)
        engine.library.ingest([CORPUS])
        engine.library.index.check_every_s = 3600  # the loaded snapshot stays: the question passes its checks
        with started(TestClient(create_app(engine=engine))) as c:
            assert c.post("/api/ask", json={"question": LEADER}).status_code == 200
            chroma.kill()
            chroma.wait(timeout=10)
            with c.stream("POST", "/api/chat/stream", json={"question": LEADER}) as r:
                assert r.status_code == 200
                got = events(r.read().decode())
    assert [e for e, _ in got] == ["error"]
    assert got[0][1]["error"]["code"] == "index_unreachable" and "not reachable; try again" in got[0][1]["error"]["message"]


def test_an_empty_index_is_a_409_before_any_stream(own_client: TestClient):
    for path in ("/api/ask", "/api/chat/stream"):
        r = own_client.post(path, json={"question": LEADER})
        assert r.status_code == 409 and "nothing is indexed yet" in r.json()["error"]["message"]


def test_bad_stream_requests_are_refused_before_streaming(client: TestClient):
    r = client.post("/api/chat/stream", json={"question": ""})
    assert r.status_code == 400 and r.json()["error"]["message"] == "the question is empty"


# -- refusals ------------------------------------------------------------------------------------
LONG = "why " * 600
BAD = [
    (
        "/api/ask",
        {"content": b'{"question": "who', "headers": {"content-type": "application/json"}},
        400,
        "malformed JSON",
    ),
    ("/api/ask", {"json": {"question": 42}}, 422, "question: Input should be a valid string"),
    ("/api/ask", {"json": {"question": ["who"]}}, 422, "question: Input should be a valid string"),
    ("/api/ask", {"json": {}}, 422, "question is required"),
    ("/api/ask", {"json": {"question": "  "}}, 400, "the question is empty"),
    ("/api/ask", {"json": {"question": LONG}}, 400, "the question is too long"),
    ("/api/ask", {"json": ["who leads ISIS-K?"]}, 422, "must be a JSON object"),
    ("/api/ask", {"json": {"question": "who?", "history": "earlier"}}, 422, "history must be a list"),
    ("/api/ask", {"json": {"question": "who?", "history": ["hi"]}}, 422, "history must be a list"),
    (
        "/api/ask",
        {"json": {"question": "who?", "history": [{"role": "system", "content": "x"}]}},
        422,
        "history.0.role",
    ),
    ("/api/ask", {"json": {"question": "who?", "history": [{"role": "user"}]}}, 422, "history.0.content is required"),
    ("/api/ask", {"json": {"question": "who?", "top_k": 0}}, 422, "top_k"),
    ("/api/ask", {"json": {"question": "who?", "topk": 3}}, 422, "topk is not a known field"),
    ("/api/ask", {"data": {"question": "who?"}}, 415, "application/json"),
    ("/api/ask", {"content": b"question=who", "headers": {"content-type": "text/plain"}}, 415, "text/plain"),
    ("/v1/chat/completions", {"json": {"model": "news-qa", "messages": []}}, 422, "messages"),
    (
        "/v1/chat/completions",
        {"json": {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}},
        404,
        "does not exist",
    ),
    (
        "/v1/chat/completions",
        {"json": {"model": "news-qa", "messages": [{"role": "assistant", "content": "hi"}]}},
        400,
        "must be from the user",
    ),
]


@pytest.mark.parametrize(("path", "kwargs", "status", "message"), BAD, ids=[f"{p}-{m}" for p, _, _, m in BAD])
def test_bad_requests_get_a_4xx_and_a_clear_message(client: TestClient, path, kwargs, status, message):
    r = client.post(path, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert message in error["message"] and re.fullmatch(r"[a-z][a-z_]+", error["code"])


def test_unknown_ids_routes_and_methods(client: TestClient):
    for r, status, message, code in [
        (client.get("/api/documents/no-such-article"), 404, "no article with id 'no-such-article'", "not_found"),
        (client.delete("/api/documents/no-such-article"), 404, "no article with id 'no-such-article'", "not_found"),
        # an id that reads like a storage error is still an unknown id, not a disk error (found by the fuzzer)
        (client.delete("/api/documents/failed%20to%20apply%20logs"), 404, "no article with id 'failed to apply logs'", "not_found"),
        (client.delete("/api/documents/disk%20is%20full"), 404, "no article with id 'disk is full'", "not_found"),
        (client.get("/api/nothing-here"), 404, "no such endpoint", "not_found"),
        (client.put("/api/ask"), 405, "PUT is not allowed", "method_not_allowed"),
        (client.post("/api/ask", content=b"{", headers={"content-type": "application/json"}), 400, "malformed JSON", "invalid_json"),
    ]:
        error = r.json()["error"]
        assert r.status_code == status and message in error["message"] and error["code"] == code, error


# -- documents -----------------------------------------------------------------------------------
VOLCANO = ("The Kestrel Ridge volcano erupted on Tuesday. Officials said the ash cloud reached nine kilometres. "
           "The mayor of Dunmore, Aileen Varga, ordered the evacuation of 3,200 residents.")  # fmt: skip


def test_documents_can_be_added_listed_asked_about_and_deleted(own_client: TestClient, tmp_path):
    c = own_client
    r = c.post(
        "/api/documents", json={"title": "Volcano erupts near Dunmore", "text": VOLCANO, "url": "https://example.org/v"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["report"]["added"] == ["volcano-erupts-near-dunmore"]
    assert [d["id"] for d in c.get("/api/documents").json()] == ["volcano-erupts-near-dunmore"]
    answer = c.post("/api/ask", json={"question": "Who ordered the evacuation?"}).json()
    assert "Aileen Varga" in answer["answer"] and answer["citations"][0]["url"] == "https://example.org/v"

    again = c.post("/api/documents", json={"title": "Volcano erupts near Dunmore", "text": VOLCANO})
    assert again.status_code == 200 and again.json()["report"]["unchanged"] == ["volcano-erupts-near-dunmore"]

    md = "---\ntitle: Harbour reopens\n---\nThe harbour at Port Ellis reopened on Monday after the storm.\n"
    up = c.post("/api/documents", files={"file": ("harbour.md", md.encode(), "text/markdown")})
    assert up.status_code == 201 and up.json()["documents"][0]["title"] == "Harbour reopens"
    assert {d["id"] for d in c.get("/api/documents").json()} == {"volcano-erupts-near-dunmore", "harbour"}
    # an uploaded file keeps its name as its source: in the list, the citations and the page
    assert up.json()["documents"][0]["source"] == "uploaded/harbour.md"
    cited = c.post("/api/ask", json={"question": "When did the harbour at Port Ellis reopen?"}).json()["citations"]
    assert cited[0]["doc_id"] == "harbour" and cited[0]["source"] == "uploaded/harbour.md"
    assert "harbour.md" in c.get("/library").text
    pasted = next(d for d in c.get("/api/documents").json() if d["id"] == "volcano-erupts-near-dunmore")
    assert pasted["source"] == "api"  # pasted text has no file name

    assert c.delete("/api/documents/volcano-erupts-near-dunmore").json() == {"deleted": "volcano-erupts-near-dunmore"}
    assert c.get("/api/documents/volcano-erupts-near-dunmore").status_code == 404
    after = c.post("/api/ask", json={"question": "Who ordered the evacuation?"}).json()
    assert "Varga" not in after["answer"]
    assert all(cit["doc_id"] == "harbour" for cit in after["citations"])


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"files": {"file": ("x.txt", b"\x00\x01binary", "application/octet-stream")}}, 415, "binary file"),
        ({"files": {"file": ("x.txt", b"\xff\xfe\xfa not utf-8", "text/plain")}}, 415, "not UTF-8"),
        ({"files": {"file": ("x.png", b"\x89PNG", "image/png")}}, 415, "unsupported file type '.png'"),
        ({"files": {"file": ("x.pdf", b"%PDF-1.4", "application/pdf")}}, 415, "not a readable PDF"),
        ({"files": {"file": ("x.txt", b"   \n", "text/plain")}}, 400, "empty file"),
        ({"files": {"file": ("x.txt", b"a" * 2_000_001, "text/plain")}}, 413, "too large"),
        ({"files": {"other": ("x.txt", b"text", "text/plain")}}, 422, "file is required"),
        ({"json": {"title": "T", "text": "x" * 2_000_001}}, 413, "too large"),
        ({"json": {"title": "T"}}, 422, "text"),
        ({"json": {"title": "T", "text": 5}}, 422, "text"),
        ({"json": {"title": "Blank", "text": "  \n\n \t"}}, 400, "no article text"),
        ({"json": {"title": "T", "text": "t", "id": "My Doc"}}, 422, "such as 'my-doc'"),
        (
            {"content": b'{"title": "\xff", "text": "t"}', "headers": {"content-type": "application/json"}},
            400,
            "malformed JSON",
        ),
        ({"content": b"[" * 200_000, "headers": {"content-type": "application/json"}}, 400, "malformed JSON"),
        (
            {"content": b'{"title": "T", "text": ', "headers": {"content-type": "application/json"}},
            400,
            "malformed JSON",
        ),
        ({"content": b"just text", "headers": {"content-type": "text/plain"}}, 415, "unsupported media type"),
        ({"content": b"x" * 3_000_001, "headers": {"content-type": "text/plain"}}, 413, "request body is too large"),
    ],
)
def test_refused_uploads_leave_the_index_as_it_was(tmp_path, embed_model, kwargs, status, message):
    settings = Settings(data_dir=tmp_path / "d", server=ServerSettings(max_body_bytes=2_500_000))
    settings.ingest.max_file_bytes = 2_000_000
    engine = QAEngine(settings, embed_model=embed_model)
    with started(TestClient(create_app(engine=engine))) as c:
        assert c.post("/api/documents", json={"title": "Volcano", "text": VOLCANO}).status_code == 201
        before = c.get("/api/documents").json()
        r = c.post("/api/documents", **kwargs)
        assert r.status_code == status, r.text
        assert message in r.json()["error"]["message"]
        assert c.get("/api/documents").json() == before
    assert engine.library.store.sentences.count() == len(engine.library.document("volcano").layout.sentences)


# -- API key -------------------------------------------------------------------------------------
def test_the_api_key_guards_writes_and_optionally_reads(tmp_path, embed_model):
    settings = Settings(data_dir=tmp_path / "d", api_key=SecretStr("s3cret-key"))
    doc = {"title": "Volcano", "text": VOLCANO}
    with started(TestClient(create_app(engine=QAEngine(settings, embed_model=embed_model)))) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cret-ke"}):
            r = c.post("/api/documents", json=doc, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
            assert r.json()["error"]["code"] == "invalid_api_key"  # OpenAI's code for the same refusal
        assert c.get("/api/documents").json() == []
        assert c.post("/api/documents", json=doc, headers={"Authorization": "Bearer s3cret-key"}).status_code == 201
        assert c.delete("/api/documents/volcano").status_code == 401
        assert c.post("/api/ask", json={"question": "Who ordered the evacuation?"}).status_code == 200  # reads open

    settings.server.protect_reads = True
    with started(TestClient(create_app(engine=QAEngine(settings, embed_model=embed_model)))) as c:
        for path, method, body in [
            ("/api/ask", "post", {"question": "who?"}),
            ("/api/documents", "get", None),
            ("/v1/models", "get", None),
        ]:
            assert getattr(c, method)(path, **({"json": body} if body else {})).status_code == 401
        ok = c.post("/api/ask", json={"question": "Who ordered the evacuation?"}, headers={"X-API-Key": "s3cret-key"})
        assert ok.status_code == 200 and "Aileen Varga" in ok.json()["answer"]
        assert c.get("/healthz").status_code == 200


# -- concurrency ---------------------------------------------------------------------------------
def test_ingests_never_break_or_half_show_to_concurrent_questions(local_engine: QAEngine):
    local_engine.library.ingest([CORPUS])
    stop = threading.Event()
    with serving(create_app(engine=local_engine)) as url, httpx.Client(base_url=url, timeout=60) as http:

        def writer() -> int:
            n = 0
            while not stop.is_set() and n < 6:
                text = VOLCANO + f" Update {n}: the ash reached {n + 1} towns." + " More detail follows here." * 30
                assert http.post(
                    "/api/documents", json={"id": f"volcano-{n % 2}", "title": f"Volcano {n}", "text": text}
                ).status_code in (200, 201)
                if n % 3 == 2:
                    assert http.delete(f"/api/documents/volcano-{n % 2}").status_code == 200
                n += 1
            return n

        def reader(question: str) -> dict:
            r = http.post("/api/ask", json={"question": question})
            assert r.status_code == 200, r.text
            return r.json()

        with ThreadPoolExecutor(4) as pool:
            written = pool.submit(writer)
            answers = list(pool.map(reader, [LEADER, "Who ordered the evacuation?", "How far did the ash reach?"] * 6))
            stop.set()
            assert written.result() >= 1
    for a in answers:
        for c in a["citations"]:  # every quote is a whole, consistent piece of the passage it came from
            assert c["passage"][c["start"] - c["passage_start"] : c["end"] - c["passage_start"]] == c["quote"]
    assert any("Shahab al-Muhajir" in a["answer"] for a in answers)


# -- the command ---------------------------------------------------------------------------------
def test_qa_serve_starts_the_real_server(tmp_path, shared_corpus_engine: QAEngine):
    import os
    import subprocess
    import sys
    import time

    port = free_port()
    env = {**os.environ, "QA_DATA_DIR": str(shared_corpus_engine.settings.data_dir), "QA_SERVER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert f"serving on http://127.0.0.1:{port}" in proc.stderr.readline()
        deadline, ready = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.json()["status"] == "ready"
        answer = httpx.post(f"http://127.0.0.1:{port}/api/ask", json={"question": LEADER}, timeout=60).json()
        assert "Shahab al-Muhajir" in answer["answer"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
