"""Schemathesis over the app's own OpenAPI schema, through a real uvicorn server: generated requests
(valid and invalid) to every operation must never get a 5xx, and every response must be one the schema
declares, in its declared media type and shape.

Writes go to an index of this module's own (corpus/ plus whatever the fuzzer posts), never to the
shared one; the embedding model is the session's.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evals.live import serving
from qa.config import Settings
from qa.engine import QAEngine
from server import create_app
from tests.support.helpers import CORPUS

EXAMPLES = 50  # per operation and phase: fifteen operations, about a thousand requests, one to three minutes
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]  # fmt: skip
SEEN: Counter[tuple[str, int]] = Counter()  # (operation, status) -> responses, for the summary test


@pytest.fixture(scope="module")
def fuzz_url(tmp_path_factory: pytest.TempPathFactory, embed_model):
    engine = QAEngine(Settings(data_dir=tmp_path_factory.mktemp("fuzz")), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    with serving(create_app(engine=engine)) as url:
        started = time.monotonic()
        yield url
        print(f"\nschemathesis: {sum(SEEN.values())} requests in {time.monotonic() - started:.0f}s")


# The schema the app serves at /openapi.json (building it needs no engine). schemathesis's lazy
# `from_fixture` loader does not run under pytest 9.2: it sets a node attribute pytest renamed.
schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors_and_every_response_as_declared(case, fuzz_url: str):
    response = case.call_and_validate(base_url=fuzz_url, checks=CHECKS, timeout=60)
    # the coverage phase also tries methods the path does not take (405, with an Allow header)
    label = f"{case.method} {case.path}" if case.method == case.operation.method.upper() else "other methods"
    SEEN[(label, response.status_code)] += 1


LEADER = {"body": {"question": "who leads ISIS-K?"}, "media_type": "application/json"}
CHAT = {"model": "news-qa", "messages": [{"role": "user", "content": "who leads ISIS-K?"}]}
ARTICLE = {"body": {"title": "Kestrel Ridge erupts", "text": "The Kestrel Ridge volcano erupted on Tuesday."},
           "media_type": "application/json"}  # fmt: skip
KESTREL = {"path_parameters": {"doc_id": "kestrel-ridge-erupts"}}
KNOWN = [
    ("POST", "/api/ask", LEADER, 200),
    ("POST", "/api/chat/stream", LEADER, 200),
    ("POST", "/v1/chat/completions", {"body": CHAT}, 200),
    ("POST", "/v1/chat/completions", {"body": {**CHAT, "stream": True}}, 200),
    ("POST", "/api/documents", ARTICLE, 201),
    ("POST", "/api/documents", ARTICLE, 200),  # nothing new the second time
    ("GET", "/api/documents/{doc_id}", KESTREL, 200),
    ("DELETE", "/api/documents/{doc_id}", KESTREL, 200),
    ("DELETE", "/api/documents/{doc_id}", KESTREL, 404),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), KNOWN, ids=[f"{k[0]} {k[1]}" for k in KNOWN])
def test_answers_to_good_requests_are_as_declared(fuzz_url: str, method: str, path: str, kwargs: dict, status: int):
    """Generated questions seldom get past validation: these requests check the success bodies and streams."""
    response = schema[path][method].Case(**kwargs).call_and_validate(base_url=fuzz_url, checks=CHECKS, timeout=60)
    SEEN[(f"{method} {path}", response.status_code)] += 1
    assert response.status_code == status, response.text


def test_an_uploaded_file_is_answered_as_declared(fuzz_url: str):
    # schemathesis names a generated file part after its field ("file", no suffix: a 415), so this one is sent by hand
    case = schema["/api/documents"]["POST"].Case(media_type="multipart/form-data", body={"file": b"x"})
    article = b"Dunmore evacuates\n\nThe mayor of Dunmore ordered the evacuation of 3,200 residents."
    response = httpx.post(f"{fuzz_url}/api/documents", files={"file": ("dunmore.txt", article)}, timeout=60)
    response.request.read()  # schemathesis reports the request too
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 201 and response.json()["documents"][0]["id"] == "dunmore"


def test_the_fuzzer_reached_every_operation():
    if not SEEN:
        pytest.skip("sums up the tests above; run them in the same session")
    operations = {op for op, _ in SEEN} - {"other methods"}
    assert len(operations) == len(list(schema.get_all_operations())) == 15, operations
    print(f"\nschemathesis responses by operation and status: {dict(sorted(SEEN.items()))}")
