"""Browser-side safety through the real app: cross-site writes and foreign Host names are refused,
every response carries the security headers, an empty QA_API_KEY stops the start, HEAD and OPTIONS
work, and the OpenAPI schema declares the refusals the API really gives.

Clients here talk to the app as http://127.0.0.1, an allowed name by default. (Starlette's default,
http://testserver, is answered too: the test client reports it as the address it connected to.)
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from evals.live import CHROMIUM_FLAGS, serving
from qa.config import ServerSettings, Settings
from qa.engine import QAEngine
from server import create_app
from server.pages import CSP as PAGE_CSP
from tests.support.helpers import started

BASE = "http://127.0.0.1"
ARTICLE = ("volcano.txt", b"Kestrel Ridge erupts\n\nThe Kestrel Ridge volcano erupted on Tuesday. Officials said so.")
ERROR_KEYS = {"message", "type", "code", "param"}
SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}
CHROMIUM = Path(os.environ.get("QA_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("QA_REQUIRE_BROWSER") == "1"  # read at import: the autouse fixture clears QA_*


def client_for(engine: QAEngine, base_url: str = BASE) -> TestClient:
    return TestClient(create_app(engine=engine), base_url=base_url)


@pytest.fixture
def reader(shared_corpus_engine: QAEngine):
    """The corpus app, for requests that change nothing."""
    with started(client_for(shared_corpus_engine)) as c:
        yield c


@pytest.fixture
def writable(local_engine: QAEngine):
    """An app over an empty index of its own, for writes."""
    with started(client_for(local_engine)) as c:
        yield c


def refused(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == ERROR_KEYS and re.fullmatch(r"[a-z][a-z_]+", error["code"]) and words in error["message"], error
    assert r.headers["content-type"] == "application/json"


# -- cross-site writes -----------------------------------------------------------------------------
FOREIGN = [
    {"Origin": "https://evil.example"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},  # a browser that sends no Origin
    {"Sec-Fetch-Site": "same-site"},  # e.g. another port on localhost: another application
    {"Origin": "http://127.0.0.1:8080"},  # this host, another port
    {"Origin": "null"},  # a sandboxed frame or a file: page
]


@pytest.mark.parametrize("headers", FOREIGN, ids=[" ".join(h.values()) for h in FOREIGN])
def test_a_cross_site_upload_is_refused_and_nothing_is_stored(writable: TestClient, headers: dict):
    r = writable.post("/api/documents", files={"file": ARTICLE}, headers=headers)
    refused(r, 403, "cross-site request refused")
    assert r.json()["error"]["type"] == "permission_error"
    assert "API clients, which send no Origin header, are not affected" in r.json()["error"]["message"]
    refused(writable.delete("/api/documents/anything", headers=headers), 403, "cross-site")  # refused before the 404
    assert writable.get("/api/documents").json() == []


def test_same_origin_pages_and_api_clients_may_write(writable: TestClient):
    page = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}  # what the chat page and /docs send
    added = writable.post("/api/documents", files={"file": ARTICLE}, headers=page)
    assert added.status_code == 201, added.text
    plain = writable.post("/api/documents", json={"title": "A second article", "text": "It says little."})
    assert plain.status_code == 201, plain.text  # curl, the CLI, the OpenAI client: no Origin at all
    typed_in = {"Sec-Fetch-Site": "none"}  # a request the user made directly, not a page
    typed = writable.post("/api/documents", json={"title": "Third", "text": "Typed in."}, headers=typed_in)
    assert typed.status_code == 201, typed.text
    # a browser's own form post can carry `Origin: null` (a strict Referrer-Policy): Sec-Fetch-Site decides
    form = writable.post("/api/documents", files={"file": ("form.txt", b"Form\n\nPosted by a form.")},
                         headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})  # fmt: skip
    assert form.status_code == 201, form.text
    ids = {d["id"] for d in writable.get("/api/documents").json()}
    assert ids == {"volcano", "a-second-article", "third", "form"}
    assert writable.delete("/api/documents/third", headers=page).json() == {"deleted": "third"}


def test_behind_a_tls_proxy_the_origin_still_matches():
    # the browser saw https://qa.example.com; the proxy forwards Host qa.example.com to plain http
    from server.security import same_origin

    assert same_origin("https://qa.example.com", "qa.example.com")
    assert same_origin("http://localhost:8000", "localhost:8000") and same_origin("http://[::1]:8000", "[::1]:8000")
    assert not same_origin("https://qa.example.com", "qa.example.com:8443")
    assert not same_origin("https://qa.example.com.evil.example", "qa.example.com")


def test_other_sites_are_refused_even_with_the_key(tmp_path: Path, embed_model):
    # a browser cannot send the key cross-site without a CORS preflight that this server never grants;
    # refusing anyway keeps one rule for every configuration
    engine = QAEngine(Settings(data_dir=tmp_path / "d", api_key=SecretStr("s3cret-key")), embed_model=embed_model)
    key = {"X-API-Key": "s3cret-key"}
    with started(client_for(engine)) as c:
        refused(c.post("/api/documents", files={"file": ARTICLE}, headers={**key, "Origin": "https://evil.example"}),
                403, "cross-site")  # fmt: skip
        refused(c.post("/api/documents", files={"file": ARTICLE}), 401, "API key")
        assert c.post("/api/documents", files={"file": ARTICLE}, headers=key).status_code == 201


def test_cross_site_reads_are_answered_but_never_shared(reader: TestClient):
    r = reader.get("/api/documents", headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and r.json()[0]["id"] == "isis-k-explainer"
    assert "access-control-allow-origin" not in r.headers  # no CORS: the other site's script cannot read it


# -- Host names ------------------------------------------------------------------------------------
def test_only_loopback_names_are_answered_by_default(live_url: str):
    port = httpx.URL(live_url).port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "localhost.evil.example"):
        r = httpx.get(f"{live_url}/healthz", headers={"Host": host})
        refused(r, 400, f"does not answer to the host name {host!r}")
        assert "QA_SERVER_ALLOWED_HOSTS" in r.json()["error"]["message"]
        assert r.headers["x-frame-options"] == "DENY"
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost", f"LOCALHOST.:{port}"):
        r = httpx.get(f"{live_url}/healthz", headers={"Host": host})
        assert r.status_code == 200 and r.json()["status"] == "ok", (host, r.text)


def test_the_address_a_request_came_in_on_is_always_answered(tmp_path: Path, embed_model):
    # `qa serve --host 0.0.0.0` reached as http://192.168.1.20:8000/: no rebinding names an address literal
    server = ServerSettings(allowed_hosts=["qa.example.com"], host="0.0.0.0")
    engine = QAEngine(Settings(data_dir=tmp_path / "d", server=server), embed_model=embed_model)
    with serving(create_app(engine=engine)) as url:
        port = httpx.URL(url).port
        for host, status in [(f"127.0.0.1:{port}", 200), ("qa.example.com", 200), (f"localhost:{port}", 400),
                             ("[::ffff:127.0.0.1]", 200), ("127.0.0.2", 400)]:  # fmt: skip
            assert httpx.get(f"{url}/healthz", headers={"Host": host}).status_code == status, host


def test_configured_host_names(tmp_path: Path, embed_model):
    cases = [
        (["qa.example.com"], {"qa.example.com": 200, "localhost": 400, "127.0.0.1": 400}),
        (["*.example.com"], {"news.example.com": 200, "a.b.example.com": 200, "example.com": 400, "evil.test": 400}),
        (["*"], {"anything.test": 200, "10.0.0.7": 200}),
    ]
    for allowed, expected in cases:
        server = ServerSettings(allowed_hosts=allowed, host="0.0.0.0")
        engine = QAEngine(Settings(data_dir=tmp_path / allowed[0].strip("*."), server=server), embed_model=embed_model)
        with started(client_for(engine, "http://qa.example.com")) as c:
            for host, status in expected.items():
                r = c.get("/healthz", headers={"Host": host})
                assert r.status_code == status, (allowed, host, r.text)


def test_the_bound_address_is_allowed_and_the_setting_is_checked(monkeypatch: pytest.MonkeyPatch):
    assert ServerSettings(host="192.168.1.20").trusted_hosts() == ["localhost", "127.0.0.1", "::1", "192.168.1.20"]
    assert ServerSettings(host="0.0.0.0").trusted_hosts() == ["localhost", "127.0.0.1", "::1"]
    monkeypatch.setenv("QA_SERVER_ALLOWED_HOSTS", "QA.example.com, [::1]")
    assert Settings().server.allowed_hosts == ["qa.example.com", "::1"]
    monkeypatch.setenv("QA_SERVER_ALLOWED_HOSTS", '["qa.example.com", "localhost"]')
    assert Settings().server.allowed_hosts == ["qa.example.com", "localhost"]
    for value, words in [("qa.example.com:8000", "without scheme or port"), ("https://qa.example.com", "without scheme"),
                         ("", "QA_SERVER_ALLOWED_HOSTS is empty")]:  # fmt: skip
        monkeypatch.setenv("QA_SERVER_ALLOWED_HOSTS", value)
        with pytest.raises(ValidationError, match=re.escape(words)):
            Settings()


# -- an empty key ----------------------------------------------------------------------------------
def test_an_empty_api_key_stops_the_start(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    message = "QA_API_KEY is set but empty: unset it or give a key"
    for value in ("", "   "):
        with pytest.raises(ValidationError, match=re.escape(message)):
            Settings(api_key=value)
    monkeypatch.setenv("QA_API_KEY", "")
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings()
    from qa.cli import main

    assert main(["serve"]) == 1  # refused before anything listens
    err = capsys.readouterr().err
    assert err == f"qa: error: bad setting api_key: {message}\n"


# -- headers ---------------------------------------------------------------------------------------
def test_every_response_carries_the_security_headers(reader: TestClient):
    stream = reader.post("/api/chat/stream", json={"question": "who leads ISIS-K?"})
    assert stream.headers["content-type"].startswith("text/event-stream") and "event: done" in stream.text
    responses = {
        "page": reader.get("/"),
        "json": reader.get("/api/documents"),
        "404": reader.get("/api/nothing-here"),
        "unknown id": reader.get("/api/documents/no-such-article"),
        "405": reader.put("/api/ask"),
        "400": reader.post("/api/ask", content=b"{not json", headers={"Content-Type": "application/json"}),
        "static js": reader.get("/static/chat.js"),
        "static css": reader.get("/static/chat.css"),
        "schema": reader.get("/openapi.json"),
        "docs": reader.get("/docs"),
        "swagger js": reader.get("/swagger/swagger-ui-bundle.js"),
        "sse": stream,
        "head": reader.head("/healthz"),
        "options": reader.options("/api/documents"),
        "foreign host": reader.get("/healthz", headers={"Host": "evil.example"}),
        "cross-site": reader.post("/api/ask", json={"question": "hi"}, headers={"Origin": "https://evil.example"}),
    }
    statuses = {name: r.status_code for name, r in responses.items()}
    assert statuses == {"page": 200, "json": 200, "404": 404, "unknown id": 404, "405": 405, "400": 400,
                        "static js": 200, "static css": 200, "schema": 200, "docs": 200, "swagger js": 200, "sse": 200,
                        "head": 200, "options": 204, "foreign host": 400, "cross-site": 403}  # fmt: skip
    for name, r in responses.items():
        assert {k: r.headers.get(k) for k in SECURITY} == SECURITY, name
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], name
        assert len(r.headers.get_list("content-security-policy")) == 1, name
    assert responses["page"].headers["content-security-policy"] == PAGE_CSP  # the page keeps its own policy
    assert responses["json"].headers["content-security-policy"].startswith("default-src 'none';")
    assert responses["static js"].headers["content-type"].startswith("text/javascript")


def test_the_docs_policy_allows_exactly_the_inline_script(reader: TestClient):
    docs = reader.get("/docs")
    csp = docs.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert len(inline) == 1 and "SwaggerUIBundle(" in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "connect-src 'self'" in csp
    assert f'<script src="{BASE}/swagger/swagger-ui-bundle.js">' in docs.text  # same origin: 'self' covers it
    assert reader.head("/docs").headers["content-security-policy"] == csp


# -- HEAD and OPTIONS ------------------------------------------------------------------------------
def test_head_answers_as_get_without_a_body(reader: TestClient, live_url: str):
    for path in ("/healthz", "/readyz", "/", "/api/documents", "/api/documents/isis-k-explainer", "/v1/models",
                 "/static/chat.js", "/openapi.json", "/docs"):  # fmt: skip
        got, head = reader.get(path), reader.head(path)
        assert got.status_code == head.status_code == 200, path
        assert head.content == b"" and got.content, path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content)), path
    over_http = httpx.head(f"{live_url}/healthz")  # and through uvicorn
    assert over_http.status_code == 200 and over_http.content == b""
    assert over_http.headers["content-type"] == "application/json" and int(over_http.headers["content-length"]) > 0
    missing = reader.head("/api/nothing-here")
    assert missing.status_code == 404 and missing.content == b""


def test_options_and_405s_name_every_method_of_the_path(reader: TestClient):
    for path, allow in [("/api/documents", "GET, HEAD, OPTIONS, POST"),
                        ("/api/documents/isis-k-explainer", "DELETE, GET, HEAD, OPTIONS"),
                        ("/api/ask", "OPTIONS, POST"), ("/", "GET, HEAD, OPTIONS, POST"),
                        ("/static/chat.js", "GET, HEAD, OPTIONS")]:  # fmt: skip
        r = reader.options(path, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert (r.status_code, r.headers["allow"], r.content) == (204, allow, b""), path
        assert not any(k.startswith("access-control-") for k in r.headers), path  # a preflight grants nothing
    wrong = reader.put("/api/documents")
    refused(wrong, 405, "PUT is not allowed on /api/documents")
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert reader.head("/api/ask").headers["allow"] == "OPTIONS, POST"
    refused(reader.options("/api/nothing-here"), 404, "no such endpoint")


# -- the schema tells the truth --------------------------------------------------------------------
def test_the_schema_declares_the_refusals_the_api_gives(tmp_path: Path, embed_model):
    settings = Settings(data_dir=tmp_path / "d", server=ServerSettings(max_body_bytes=10_000))
    with started(client_for(QAEngine(settings, embed_model=embed_model))) as c:
        paths = c.get("/openapi.json").json()["paths"]
        big = {"title": "Big", "text": "word " * 5000}
        plain = {"Content-Type": "text/plain"}
        elsewhere = {"Origin": "https://evil.example"}
        not_ours = {"model": "gpt-4", "messages": [{"role": "user", "content": "who?"}]}
        given = [
            ("post", "/api/documents", c.post("/api/documents", json=big), 413),
            ("post", "/api/documents", c.post("/api/documents", content=b"hi", headers=plain), 415),
            ("post", "/api/documents", c.post("/api/documents", json=big, headers=elsewhere), 403),
            ("post", "/api/documents", c.post("/api/documents", json={"title": "T"}), 422),
            ("get", "/api/documents/{doc_id}", c.get("/api/documents/nope"), 404),
            ("delete", "/api/documents/{doc_id}", c.delete("/api/documents/nope"), 404),
            ("post", "/api/ask", c.post("/api/ask", json={"question": "who?"}), 409),  # nothing indexed
            ("post", "/api/ask", c.post("/api/ask", content=b"who?"), 415),
            ("post", "/api/chat/stream", c.post("/api/chat/stream", json={"question": "who?"}), 409),
            ("post", "/v1/chat/completions", c.post("/v1/chat/completions", json=not_ours), 404),
            ("get", "/healthz", c.get("/healthz", headers={"Host": "evil.example"}), 400),
        ]
        for method, path, r, status in given:
            assert r.status_code == status, (method, path, r.text)
            assert set(r.json()["error"]) == ERROR_KEYS
            declared = paths[path][method]["responses"][str(status)]
            assert declared["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            assert declared["description"]
        updated = c.post("/api/documents", json={"title": "Small", "text": "Short."})
        again = c.post("/api/documents", json={"title": "Small", "text": "Short."})
        assert (updated.status_code, again.status_code) == (201, 200)
        assert {"200", "201"} <= set(paths["/api/documents"]["post"]["responses"])
    schema = str(paths)
    assert "HTTPValidationError" not in schema  # FastAPI's 422 model: our 422s have the error shape
    assert "text/event-stream" in str(paths["/v1/chat/completions"]["post"]["responses"]["200"]["content"])
    for path, ops in paths.items():
        for method, op in ops.items():
            assert "400" in op["responses"], (method, path)  # the Host check answers every route
            assert ("403" in op["responses"]) == (method in ("post", "put", "patch", "delete")), (method, path)


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"QA_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


VIOLATIONS = "window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective))"


@pytest.fixture
def elsewhere() -> Iterator[int]:
    """Another web application on loopback (a real one: Chromium lets only loopback pages reach loopback)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><p>another application</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_in_a_browser_docs_render_under_their_policy_and_other_sites_cannot_write(
    chromium, elsewhere: int, local_engine: QAEngine
):
    with serving(create_app(engine=local_engine)) as url:
        page = chromium.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.add_init_script(VIOLATIONS)
        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert page.inner_text(".swagger-ui .info .title").startswith("News Q&A")
        page.locator(".opblock-summary-path", has_text="/api/documents").first.click()
        page.wait_for_selector(".opblock-body", timeout=10_000)
        assert page.evaluate("window.__csp") == [] and problems == []

        # a page of another local application (http://localhost:OTHER: another origin, and another site,
        # than http://127.0.0.1:PORT) posts an upload the simple way, which needs no CORS preflight
        page.goto(f"http://localhost:{elsewhere}/")
        with page.expect_response(f"{url}/api/documents") as answer:
            page.evaluate(
                """async (target) => {
                    const form = new FormData();
                    form.append('file', new Blob(['Planted\\n\\nThis article was planted by another site.']), 'x.txt');
                    await fetch(target + '/api/documents', {method: 'POST', body: form, mode: 'no-cors'});
                }""",
                url,
            )
        assert answer.value.status == 403  # the browser sent it; the server refused it
        # and the same request from this server's own page is accepted
        page.goto(url)  # the chat page, whose policy allows fetches to its own server
        status = page.evaluate(
            """async () => {
                const form = new FormData();
                form.append('file', new Blob(['Welcome\\n\\nThis article came from the page itself.']), 'ok.txt');
                return (await fetch('/api/documents', {method: 'POST', body: form})).status;
            }"""
        )
        assert status == 201
        assert [d["id"] for d in httpx.get(f"{url}/api/documents").json()] == ["ok"]
