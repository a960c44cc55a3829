"""Questions within chosen articles (issue 23, part 3): filters run inside both searches (Chroma's
`where` and BM25), embedded and against `chroma run`, and through the API, the OpenAI endpoint and the CLI."""

from __future__ import annotations

import datetime as dt

import pytest

from qa.engine import QAEngine
from qa.errors import BadInput
from qa.schemas import Filters

# Three stories of one town, one fact each way: the same question finds a sentence in each.
MAYOR_2021 = "Dunmore elects a mayor\n\nIn March 2021 the town of Dunmore elected Ilse Varga as its mayor, by 812 votes."
MAYOR_2024 = "Dunmore has a new mayor\n\nIn May 2024 Dunmore elected Petra Lind as its mayor, after Ilse Varga retired."
FERRY = "Dunmore ferry timetable\n\nThe Dunmore ferry sails twice a day; the mayor of Dunmore opened the new pier."


@pytest.fixture
def town(engine: QAEngine, tmp_path) -> QAEngine:
    folder = tmp_path / "town"
    folder.mkdir()
    for name, text, date in (("mayor-2021.txt", MAYOR_2021, "2021-03-20"), ("mayor-2024.txt", MAYOR_2024, "2024-05-10"),
                             ("ferry.md", FERRY, None)):  # fmt: skip
        front = f"---\npublished: {date}\n---\n" if date else ""
        (folder / name).write_text(front + text, encoding="utf-8")
    engine.library.ingest([folder])
    return engine


def cited(answer) -> set[str]:
    return {c.doc_id for c in answer.citations}


def test_every_filter_is_honoured_by_both_searches(town: QAEngine):
    q = "Who was elected mayor of Dunmore?"
    for filters, allowed in (
        (Filters(doc_ids=["mayor-2021"]), {"mayor-2021"}),
        (Filters(doc_ids=["mayor-2024", "ferry"]), {"mayor-2024", "ferry"}),
        (Filters(sources=["mayor-2024.txt"]), {"mayor-2024"}),
        (Filters(since=dt.date(2022, 1, 1)), {"mayor-2024"}),
        (Filters(until=dt.date(2022, 1, 1)), {"mayor-2021"}),
        (Filters(since=dt.date(2021, 1, 1), until=dt.date(2025, 1, 1), sources=["MAYOR-2021.TXT"]), {"mayor-2021"}),
    ):
        answer = town.ask(q, filters=filters)
        assert cited(answer) and cited(answer) <= allowed, (filters, cited(answer))
        assert answer.scope is not None and answer.scope.articles == len(allowed)
        # the searches themselves: neither returns a passage from outside the scope
        snap = town.library.snapshot()
        retriever = town.retriever(top_k=10, snapshot=snap, allowed=snap.matching(filters))
        assert {p.stored.id for p in retriever.passages(q)} <= allowed
        bm25 = snap.bm25.top("Dunmore mayor elected ferry pier", 10, snap.matching(filters))
        assert bm25 and {s.id for s, _, _ in bm25} <= allowed
    # a word only the ferry story has: found within its scope, absent from another
    assert "twice a day" in town.ask("How often does the ferry sail?", filters=Filters(doc_ids=["ferry"])).answer
    outside = town.ask("How often does the ferry sail?", filters=Filters(doc_ids=["mayor-2021"]))
    assert "twice a day" not in outside.answer
    with pytest.raises(BadInput, match="no indexed article is within these filters"):
        town.ask(q, filters=Filters(doc_ids=["nope"]))
    with pytest.raises(ValueError, match="since is after until"):
        Filters(since=dt.date(2024, 1, 1), until=dt.date(2023, 1, 1))


def test_scope_over_http_and_the_cli(town: QAEngine, cli, monkeypatch):
    from fastapi.testclient import TestClient

    from server import create_app
    from tests.support.helpers import started

    with started(TestClient(create_app(engine=town))) as c:
        r = c.post("/api/ask", json={"question": "Who was elected mayor of Dunmore?", "filters": {"since": "2022-01-01"}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert {x["doc_id"] for x in body["citations"]} == {"mayor-2024"} and "Petra Lind" in body["answer"]
        assert body["scope"] == {"filters": {"doc_ids": None, "sources": None, "since": "2022-01-01", "until": None}, "articles": 1}
        r = c.post("/api/chat/stream", json={"question": "Who was elected mayor?", "filters": {"doc_ids": ["mayor-2021"]}})
        assert r.status_code == 200 and '"doc_id": "mayor-2024"' not in r.text and "Ilse Varga" in r.text
        r = c.post("/v1/chat/completions", json={"model": "news-qa", "messages": [{"role": "user", "content": "Who was elected mayor?"}],
                                                 "filters": {"until": "2022-01-01"}})  # fmt: skip
        assert r.status_code == 200 and {x["doc_id"] for x in r.json()["citations"]} == {"mayor-2021"}
        for bad, status, words in (({"doc_ids": ["nope"]}, 400, "no indexed article is within"),
                                   ({"since": "2024-01-01", "until": "2023-01-01"}, 422, "since is after until"),
                                   ({"since": "yesterday"}, 422, "since"), ({"colour": "red"}, 422, "colour")):  # fmt: skip
            r = c.post("/api/ask", json={"question": "Who was elected mayor?", "filters": bad})
            assert r.status_code == status and words in r.json()["error"]["message"], (bad, r.text)

    monkeypatch.setenv("QA_DATA_DIR", str(town.settings.data_dir))
    if town.settings.chroma.host:
        monkeypatch.setenv("QA_CHROMA_HOST", town.settings.chroma.host)
        monkeypatch.setenv("QA_CHROMA_PORT", str(town.settings.chroma.port))
        monkeypatch.setenv("QA_CHROMA_COLLECTION", town.settings.chroma.collection)
    code, out, err = cli("ask", "Who was elected mayor of Dunmore?", "--until", "2022-01-01")
    assert code == 0 and "Ilse Varga" in out and "Petra Lind" not in out and "within 1 article: to 2022-01-01" in out
    code, out, err = cli("ask", "Who was elected mayor?", "--since", "not-a-date")
    assert code == 1 and err.startswith("qa: error: --since: ")


def test_scope_without_javascript(town: QAEngine):
    """The library page's ticks (a GET form) open the chat with the scope as chips; the form carries it to the
    answer, which says it; a removed chip is a link without it; unknown ids are refused with the reason."""
    import re

    from fastapi.testclient import TestClient

    from server import create_app
    from tests.support.helpers import started

    with started(TestClient(create_app(engine=town))) as c:
        listing = c.get("/library").text
        assert 'form="scope-form"' in listing and 'value="mayor-2021"' in listing and "Ask only the ticked articles" in listing
        page = c.get("/?doc=mayor-2021&doc=ferry")
        assert page.status_code == 200 and 'class="scope-chips" aria-label' in page.text  # shown, not hidden
        assert re.findall(r'name="doc" value="([^"]+)"', page.text) == ["mayor-2021", "ferry"]
        assert 'href="/?doc=ferry"' in page.text and 'href="/?doc=mayor-2021"' in page.text  # each chip's remove link
        answer = c.post("/", data={"question": "Who was elected mayor of Dunmore?", "history": "[]",
                                   "doc": ["mayor-2021", "ferry"]})  # fmt: skip
        assert answer.status_code == 200 and "Ilse Varga" in answer.text and "Petra Lind" not in answer.text
        assert "Within 2 chosen articles." in answer.text
        assert re.findall(r'name="doc" value="([^"]+)"', answer.text) == ["mayor-2021", "ferry"]  # the scope stays
        unknown = c.get("/?doc=nope")
        assert unknown.status_code == 404 and "No article with id" in unknown.text and 'role="alert"' in unknown.text
        refused = c.post("/", data={"question": "Who was elected mayor?", "history": "[]", "doc": "nope"})
        assert refused.status_code == 404 and "No article with id" in refused.text


def test_a_wide_scope_filters_after_an_unfiltered_search_and_finds_the_same(town: QAEngine, monkeypatch, tmp_path):
    """A scope of many articles is searched unfiltered for more and filtered after (Chroma's long `$in`
    lists cost more than the search); it must find what Chroma's `where` finds."""
    from qa.index import retriever as module

    harbour = " ".join(f"Berth {i} of the Dunmore harbour holds {i + 3} fishing boats in winter." for i in range(40))
    (tmp_path / "harbour.txt").write_text(f"Dunmore harbour\n\n{harbour}\n", encoding="utf-8")
    town.library.ingest([tmp_path / "harbour.txt"])
    monkeypatch.setattr(town.settings.retrieval, "candidates", 2)  # 24 sentences wanted: fewer than the scope has
    snap = town.library.snapshot()
    allowed = snap.matching(Filters(doc_ids=["mayor-2021", "harbour"]))  # two of four articles
    client = type(town.library.store.vector_store.client)
    calls, real_query = [], client.query

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("where"))
        return real_query(self, *args, **kwargs)

    monkeypatch.setattr(client, "query", counted)

    def found(question: str) -> list[tuple[str, int, float]]:
        return [(p.stored.id, p.chunk, round(p.score, 6)) for p in town.retriever(snapshot=snap, allowed=allowed).passages(question)]

    for question in ("Who was elected mayor of Dunmore?", "How many boats does berth 7 hold?"):
        calls.clear()
        wide = found(question)
        assert calls == [None]  # one unfiltered search was enough
        monkeypatch.setattr(module, "_POST_FILTER_SHARE", 1.01)  # never: Chroma's where
        narrow = found(question)
        monkeypatch.setattr(module, "_POST_FILTER_SHARE", 0.25)
        assert calls[-1] is not None and wide == narrow and {d for d, _, _ in wide} <= {"mayor-2021", "harbour"}
