"""An article's identity: a file named like a stored article of another story is added beside it, never over
it, unless the caller says it replaces; an edit updates; an update keeps nothing of the old metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.engine import QAEngine
from qa.ingest.identity import is_edit
from server import create_app
from tests.support.helpers import started, write

KESTERTON = """---
published: 2024-03-15
author: Staff reporter
---
Kesterton rail bridge to be demolished

The Kesterton rail bridge will be demolished next spring after engineers found cracks in two of its piers.
Trains will run over a temporary crossing while a new bridge is built, the rail company said on Tuesday.
The bridge opened in 1911 and carries about forty trains a day between Kesterton and the coast.
"""

PORT_ELVIRA = """Port Elvira footbridge reopens

The footbridge over the harbour at Port Elvira reopened on Saturday after a year of repairs.
Hundreds of residents walked across it in the morning sun, and the mayor cut a ribbon at the north end.
The repairs cost 2.1 million and replaced every plank of the deck.
"""

KESTERTON_EDITED = KESTERTON.replace("next spring", "in April").replace(
    "between Kesterton and the coast.", "between Kesterton and the coast.\nA public meeting is planned for March.\n"
)


def upload(c: TestClient, name: str, text: str, **params) -> dict:
    r = c.post("/api/documents", files={"file": (name, text.encode(), "text/plain")}, params=params)
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture
def app(engine: QAEngine):
    with started(TestClient(create_app(engine=engine))) as c:
        yield c


def test_same_name_other_story_is_added_beside_it(app: TestClient):
    first = upload(app, "bridge.txt", KESTERTON)
    assert first["report"]["added"] == ["bridge"]
    second = upload(app, "bridge.txt", PORT_ELVIRA)
    assert second["report"]["added"] == ["bridge-2"] and second["report"]["updated"] == []
    assert second["report"]["renamed"] == {"bridge-2": "bridge"}
    assert [d["id"] for d in second["documents"]] == ["bridge-2"]
    docs = {d["id"]: d for d in app.get("/api/documents").json()}
    assert docs["bridge"]["title"] == "Kesterton rail bridge to be demolished"
    # the new story takes nothing from the old file's front matter
    assert docs["bridge-2"]["title"] == "Port Elvira footbridge reopens"
    assert docs["bridge-2"]["published"] is None and docs["bridge-2"]["author"] is None
    # sending either again changes nothing
    again = upload(app, "bridge.txt", PORT_ELVIRA)
    assert again["report"]["unchanged"] == ["bridge-2"] and [d["id"] for d in again["documents"]] == ["bridge-2"]
    assert len(app.get("/api/documents").json()) == 2


def test_an_edit_updates_and_replace_replaces(app: TestClient):
    upload(app, "bridge.txt", KESTERTON)
    edited = upload(app, "bridge.txt", KESTERTON_EDITED)
    assert edited["report"]["updated"] == ["bridge"] and edited["report"]["renamed"] == {}
    assert "in April" in app.get("/api/documents/bridge").json()["article"]["text"]
    replaced = upload(app, "bridge.txt", PORT_ELVIRA, replace="true")
    assert replaced["report"]["updated"] == ["bridge"]
    docs = app.get("/api/documents").json()
    assert [(d["id"], d["title"], d["published"], d["author"]) for d in docs] == [
        ("bridge", "Port Elvira footbridge reopens", None, None)
    ]
    # the old story's sentences went with it: no question finds them
    answer = app.post("/api/ask", json={"question": "When did the Kesterton rail bridge open?"}).json()
    assert all(c["doc_id"] == "bridge" and "Kesterton" not in c["quote"] for c in answer["citations"])


def test_move_replaces_the_article_holding_the_id(app: TestClient):
    upload(app, "bridge.txt", KESTERTON)
    upload(app, "bridge.txt", PORT_ELVIRA)
    r = app.post("/api/documents/bridge-2/move", json={"to": "bridge"})
    assert r.status_code == 200, r.text
    assert r.json()["replaced"] == "bridge" and r.json()["document"]["title"] == "Port Elvira footbridge reopens"
    assert [d["id"] for d in app.get("/api/documents").json()] == ["bridge"]
    answer = app.post("/api/ask", json={"question": "How much did the footbridge repairs cost?"}).json()
    assert answer["citations"] and {c["doc_id"] for c in answer["citations"]} == {"bridge"}
    assert all(c["quote"] in PORT_ELVIRA for c in answer["citations"])
    assert app.post("/api/documents/nothing/move", json={"to": "x"}).status_code == 404
    refused = app.post("/api/documents/bridge/move", json={"to": "Not A Slug"})
    assert refused.status_code == 422 and "such as 'not-a-slug'" in refused.json()["error"]["message"]


def test_a_given_id_is_the_identity(app: TestClient):
    first = app.post("/api/documents", json={"id": "harbour", "title": "Port Elvira footbridge", "text": PORT_ELVIRA})
    assert first.status_code == 201
    r = app.post("/api/documents", json={"id": "harbour", "title": "Kesterton bridge", "text": KESTERTON})
    assert r.json()["report"]["updated"] == ["harbour"]


def test_cli_files_of_one_name_in_two_folders(tmp_path: Path, cli):
    a = write(tmp_path / "a" / "bridge.txt", KESTERTON)
    b = write(tmp_path / "b" / "bridge.txt", PORT_ELVIRA)
    code, out, err = cli("ingest", str(a))
    assert code == 0 and "1 added" in out
    code, out, err = cli("ingest", str(b))
    assert code == 0 and "1 added" in out and "added as 'bridge-2'" in err
    # the same two files again, and with pruning: both stay, each under its own id
    code, out, err = cli("ingest", "--prune", str(tmp_path))
    assert code == 0 and "0 added, 0 updated, 2 unchanged" in out and "0 deleted" in out
    # the same path rewritten is that file's article: updated in place
    write(b, PORT_ELVIRA.replace("Saturday", "Sunday"))
    code, out, err = cli("ingest", str(b))
    assert "1 updated" in out
    code, out, err = cli("docs", "list", "--json")
    assert sorted(d["id"] for d in json.loads(out)) == ["bridge", "bridge-2"]


def test_cli_replace(tmp_path: Path, cli):
    cli("ingest", str(write(tmp_path / "a" / "bridge.txt", KESTERTON)))
    code, out, err = cli("ingest", "--replace", str(write(tmp_path / "b" / "bridge.txt", PORT_ELVIRA)))
    assert code == 0 and "1 updated" in out and "bridge-2" not in err


def test_edit_measure():
    assert is_edit(KESTERTON, KESTERTON_EDITED)
    assert not is_edit(KESTERTON, PORT_ELVIRA)
    assert is_edit("Short note.", "Short note. With a line more.")
