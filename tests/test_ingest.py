"""Ingestion against real Chroma, embedded and `chroma run` (the `engine` fixture runs both)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.config import ChromaSettings, Settings
from qa.engine import QAEngine
from qa.errors import BadInput, EmptyIndex
from qa.index import store as store_module
from qa.schemas import Article
from tests.support.helpers import CORPUS, write

LEADER = "The group is led by an Iraqi militant called Shahab al-Muhajir."


def sentence_hashes(engine: QAEngine) -> set[str]:
    got = engine.library.store.sentences.get(include=["metadatas"])
    return {m["hash"] for m in got["metadatas"]}


def test_second_ingest_embeds_nothing(engine: QAEngine) -> None:
    first = engine.library.ingest([CORPUS])
    assert first.added == ["isis-k-explainer"] and first.sentences_embedded > 20
    second = engine.library.ingest([CORPUS])
    assert second.sentences_embedded == 0
    assert second.unchanged == ["isis-k-explainer"] and not second.added and not second.updated
    assert engine.library.store.sentences.count() == first.sentences_embedded


def test_second_ingest_of_records_with_their_own_ids_writes_nothing(engine: QAEngine, tmp_path: Path) -> None:
    """A jsonl record's id is given, which a stored article does not record: unchanged, it is not written again."""
    rows = [{"id": f"story-{i}", "title": f"Story {i}", "text": f"The ferry number {i} sailed at dawn on Sunday."} for i in range(3)]
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert engine.library.ingest([path]).added == ["story-0", "story-1", "story-2"]
    writes = engine.library.store.writes
    second = engine.library.ingest([path])
    assert second.unchanged == ["story-0", "story-1", "story-2"] and not second.updated
    assert engine.library.store.writes == writes


def test_update_replaces_old_sentences(engine: QAEngine, tmp_path: Path) -> None:
    doc = write(tmp_path / "news" / "storm.txt", "Storm hits coast\n\nThe storm killed 12 people on Monday.")
    engine.library.ingest([doc.parent])
    old_hash = engine.library.document("storm").hash
    write(doc, "Storm hits coast\n\nThe storm killed 15 people on Tuesday. Rescue teams are searching.")
    report = engine.library.ingest([doc.parent])
    assert report.updated == ["storm"] and report.sentences_embedded == 2
    assert old_hash not in sentence_hashes(engine)
    assert engine.library.store.sentences.count() == 2
    answer = engine.ask("How many people did the storm kill?")
    assert "15 people" in answer.answer and "12" not in answer.answer


def test_same_text_under_two_names_is_stored_once(engine: QAEngine, tmp_path: Path) -> None:
    text = (CORPUS / "isis-k-explainer.txt").read_text()
    write(tmp_path / "a" / "copy-one.txt", text)
    write(tmp_path / "a" / "copy-two.txt", text)
    report = engine.library.ingest([tmp_path / "a"])
    assert report.added == ["copy-one"] and report.duplicates == {"copy-two": "copy-one"}
    assert [d.id for d in engine.library.documents()] == ["copy-one"]
    assert len(sentence_hashes(engine)) == 1


def test_delete_and_prune(engine: QAEngine, tmp_path: Path) -> None:
    folder = tmp_path / "news"
    write(folder / "one.txt", "Bridge opens\n\nThe new bridge opened to traffic on Friday.")
    gone = write(folder / "two.txt", "Mayor resigns\n\nThe mayor resigned after ten years in office.")
    write(folder / "three.txt", "Harvest\n\nFarmers reported a record wheat harvest this year.")
    engine.library.ingest([folder])
    engine.library.delete("three")
    assert [d.id for d in engine.library.documents()] == ["one", "two"]
    with pytest.raises(Exception, match="no article with id 'three'"):
        engine.library.delete("three")
    (folder / "three.txt").unlink()
    gone.unlink()
    report = engine.library.ingest([folder], prune=True)
    assert report.deleted == ["two"] and report.unchanged == ["one"]
    assert [d.id for d in engine.library.documents()] == ["one"]
    assert len(sentence_hashes(engine)) == 1  # the pruned article's sentences went with it
    assert all(c.doc_id == "one" for c in engine.ask("Who resigned after ten years?").citations)


def test_rename_moves_without_embedding(engine: QAEngine, tmp_path: Path) -> None:
    doc = write(tmp_path / "news" / "old-name.txt", "Dam repaired\n\nEngineers repaired the dam in three weeks.")
    engine.library.ingest([doc.parent])
    doc.rename(doc.with_name("new-name.txt"))
    report = engine.library.ingest([doc.parent], prune=True)
    assert report.sentences_embedded == 0 and report.updated == ["new-name"]
    assert [d.id for d in engine.library.documents()] == ["new-name"]
    assert engine.ask("How long did the dam repair take?").citations[0].doc_id == "new-name"


def test_unreadable_update_leaves_the_article_as_it_was(engine: QAEngine, tmp_path: Path) -> None:
    folder = tmp_path / "news"
    doc = write(folder / "port.txt", "Port strike\n\nDock workers at the port went on strike for higher pay.")
    write(folder / "fine.txt", "Library\n\nThe city library extended its opening hours.")
    engine.library.ingest([folder])
    before = engine.library.document("port").hash
    doc.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    report = engine.library.ingest([folder], prune=True)
    assert "port.txt" in next(iter(report.skipped)) and not report.deleted
    assert engine.library.document("port").hash == before
    assert "strike" in engine.ask("Why did dock workers strike?").answer


def test_empty_corpus_is_refused(engine: QAEngine, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="no articles found"):
        engine.library.ingest([tmp_path / "empty"])


def test_bm25_follows_chroma_written_by_another_installation(chroma_server, embed_model, tmp_path: Path) -> None:
    """Two installations (own data dirs, own BM25 caches) on one `chroma run`: each sees the other's writes."""
    host, port = chroma_server
    chroma = ChromaSettings(host=host, port=port, collection="shared-news")
    writer = QAEngine(Settings(data_dir=tmp_path / "a", chroma=chroma), embed_model=embed_model)
    reader = QAEngine(Settings(data_dir=tmp_path / "b", chroma=chroma), embed_model=embed_model)
    reader.library.index.check_every_s = 0
    writer.library.ingest([CORPUS])
    assert LEADER in reader.ask("Who leads ISIS-K?").answer
    assert (tmp_path / "b" / "bm25").is_dir() and not (tmp_path / "b" / "chroma").exists()
    writer.library.delete("isis-k-explainer")
    with pytest.raises(EmptyIndex):
        reader.ask("Who leads ISIS-K?")


# -- the parse cache: unchanged files are not parsed again -----------------------------------------
def _cache_entries(engine: QAEngine) -> list[Path]:
    return sorted((engine.settings.data_dir / "cache" / "parsed").glob("*.json"))


def test_an_unchanged_file_is_read_from_the_parse_cache_and_a_changed_one_is_parsed(local_engine: QAEngine, tmp_path: Path) -> None:
    import json

    feed = write(tmp_path / "feed" / "wire.jsonl", '{"id": "storm", "title": "Storm hits coast", "text": "The storm killed 12 people."}\n')
    assert local_engine.library.ingest([feed]).added == ["storm"]
    (entry,) = _cache_entries(local_engine)
    record = json.loads(entry.read_text())
    assert record["source"] == str(feed) and record["articles"][0]["id"] == "storm"

    # Same bytes: what the cache holds is what is ingested (the title here proves it was not re-parsed).
    record["articles"][0]["title"] = "Storm hits coast (from the cache)"
    entry.write_text(json.dumps(record))
    local_engine.library.ingest([feed])
    assert local_engine.library.document("storm").article.title == "Storm hits coast (from the cache)"

    # New bytes: parsed again, and the entry follows.
    write(feed, '{"id": "storm", "title": "Storm hits coast", "text": "The storm killed 15 people."}\n')
    assert local_engine.library.ingest([feed]).updated == ["storm"]
    assert "15 people" in local_engine.library.document("storm").article.text
    assert json.loads(entry.read_text())["articles"][0]["text"] == "The storm killed 15 people."

    # A damaged entry is ignored, not trusted.
    entry.write_text("{not json")
    report = local_engine.library.ingest([feed])
    assert report.unchanged == ["storm"] and local_engine.library.document("storm").article.title == "Storm hits coast"


def test_a_refused_file_is_never_cached(local_engine: QAEngine, tmp_path: Path) -> None:
    bad = write(tmp_path / "feed" / "bad.jsonl", "not json at all\n")
    report = local_engine.library.ingest([bad])
    assert report.skipped and not _cache_entries(local_engine)


# -- sizes: a run without sentence ends, an article of more sentences than one Chroma call takes ----------
WORDS = "council river bridge market winter harbour people local year city plan build road school report week".split()


def _run_without_ends(n_words: int, seed: int = 7) -> str:
    import random

    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def test_a_run_without_sentence_ends_is_cut_into_quotable_passages(local_engine: QAEngine, embed_model) -> None:
    run = _run_without_ends(6000)  # about 40,000 characters, no full stop anywhere
    needle = "the lighthouse keeper Margit Olsen counted 4711 gulls"
    middle = len(run) // 2
    middle = run.index(" ", middle)
    text = f"{run[:middle]} {needle} {run[middle:]}"
    report = local_engine.library.add([Article(id="wire", title="Wire dump", text=text, source="api")])
    stored = local_engine.library.document("wire")
    sentences = stored.layout.sentences
    assert report.sentences_embedded == len(sentences) > len(text) // 600
    assert all(0 < s.end - s.start <= 600 for s in sentences)
    # cut at words: no passage starts or ends inside a word, and together they hold every word
    assert all(not text[s.start].isspace() and not text[s.end - 1].isspace() for s in sentences)
    assert all(s.start == 0 or text[s.start - 1].isspace() for s in sentences)
    assert all(s.end == len(text) or text[s.end].isspace() for s in sentences)
    assert " ".join(text[s.start : s.end] for s in sentences).split() == text.split()
    # each passage is embedded as it stands: the stored vector is that of text[start:end]
    got = local_engine.library.store.sentences.get(include=["embeddings", "metadatas"])
    assert len(got["ids"]) == len(sentences)
    expected = embed_model.get_text_embedding_batch([text[s.start : s.end] for s in (sentences[m["sent"]] for m in got["metadatas"])])
    assert np.allclose(np.asarray(got["embeddings"]), np.asarray(expected), atol=1e-4)
    answer = local_engine.ask("How many gulls did the lighthouse keeper Margit Olsen count?")
    assert answer.citations, answer
    c = answer.citations[0]
    assert c.quote == text[c.start : c.end] and len(c.quote) <= 600 and "4711" in c.quote


def test_max_sentence_chars_is_a_setting(tmp_path: Path, embed_model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_INGEST_MAX_SENTENCE_CHARS", "150")
    engine = QAEngine(Settings(), embed_model=embed_model)
    assert engine.settings.ingest.max_sentence_chars == 150
    text = _run_without_ends(400)
    engine.library.add([Article(id="wire", title="Wire dump", text=text, source="api")])
    sentences = engine.library.document("wire").layout.sentences
    assert len(sentences) >= len(text) // 150 and max(s.end - s.start for s in sentences) <= 150


def test_an_article_of_more_sentences_than_one_chroma_call_takes_is_indexed(local_engine: QAEngine, embed_model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SENTENCE_VECTORS_UP_TO", 10**6)  # a vector per sentence: more than one call takes
    store = local_engine.library.store
    n = store.client.get_max_batch_size() + 539  # 6,000 with Chroma's 5,461
    text = " ".join(f"Lot {i} sold for {i * 3 + 11} pounds." for i in range(n))
    report = local_engine.library.add([Article(id="auction", title="Auction results", text=text, source="api")])
    assert report.added == ["auction"] and report.sentences_embedded == n
    assert store.sentences.count() == n
    assert store.articles.get(where={"kind": "pending"})["ids"] == []
    stored = local_engine.library.document("auction")
    last = stored.layout.sentences[-1]
    assert text[last.start : last.end] == f"Lot {n - 1} sold for {(n - 1) * 3 + 11} pounds."
    assert _vector_is_of(store, f"{stored.hash}:{n - 1}", text[last.start : last.end], embed_model)


def _vector_is_of(store, vector_id: str, text: str, embed_model) -> bool:
    """The stored vector `vector_id` is the embedding of `text` (the store keeps no copy of the text)."""
    got = store.sentences.get(ids=[vector_id], include=["embeddings"])["embeddings"]
    return len(got) == 1 and np.allclose(np.asarray(got[0]), embed_model.get_text_embedding(text), atol=1e-4)


class _AddFailsAt:
    """A real Chroma collection whose `n`th `add` raises: a write that fails between two of its batches."""

    def __init__(self, collection, n: int) -> None:
        self._collection, self._n, self.calls, self.count_at_failure = collection, n, 0, None

    def __getattr__(self, name: str):
        return getattr(self._collection, name)

    def add(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self._n:
            self.count_at_failure = self._collection.count()
            raise RuntimeError("chroma failed part-way")
        return self._collection.add(*args, **kwargs)


def test_a_big_article_streams_in_batches_and_a_failure_between_them_changes_nothing(local_engine: QAEngine, embed_model, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.ingest.pipeline import _BATCH_SENTENCES

    monkeypatch.setattr(store_module, "SENTENCE_VECTORS_UP_TO", 10**6)  # a vector per sentence, in several batches
    library, store = local_engine.library, local_engine.library.store
    library.ingest([CORPUS])
    n = 3000  # about six batches
    text = " ".join(f"Crate {i} held {i * 5 + 2} apples." for i in range(n))
    crates = Article(id="crates", title="Crate count", text=text, source="api")

    def state() -> tuple:
        records = {a.id: (a.hash, a.article.text) for a in store.load()}
        return records, sorted(store.sentences.get(include=[])["ids"]), store.articles.get(where={"kind": "pending"})["ids"]

    before = state()
    failing = _AddFailsAt(store.sentences, 2)
    store._conn.sentences = failing
    store._conn.__dict__.pop("vector_store", None)  # rebuilt over the failing collection
    with pytest.raises(RuntimeError, match="part-way"):
        library.add([crates])
    # the first batch was in Chroma, the rest not yet embedded into it: the article streamed
    assert failing.count_at_failure == len(before[1]) + _BATCH_SENTENCES
    assert state() == before and not before[2]

    report = library.add([crates])
    assert report.added == ["crates"] and report.sentences_embedded == n
    stored = library.document("crates")
    ids = store.sentences.get(where={"hash": stored.hash}, include=[])["ids"]
    assert sorted(ids) == sorted(f"{stored.hash}:{j}" for j in range(n))
    assert store.articles.get(where={"kind": "pending"})["ids"] == []
    last = stored.layout.sentences[-1]
    assert _vector_is_of(store, f"{stored.hash}:{n - 1}", text[last.start : last.end], embed_model)


def test_a_long_article_has_a_vector_per_chunk_and_its_sentences_are_still_found_and_quoted(local_engine: QAEngine, embed_model) -> None:
    library, store = local_engine.library, local_engine.library.store
    library.ingest([CORPUS])
    n = store_module.SENTENCE_VECTORS_UP_TO + 500
    towns = ["Arden", "Belmoor", "Carrow", "Dunmere", "Eskby", "Fallow", "Garth", "Hollin"]
    j = 1234
    fact = "The violinist Mirela Oskarsdottir joined the Tallinn Philharmonic Orchestra in 1998."
    text = " ".join(fact if i == j else f"The ferry to {towns[i % 8]} left pier {i} at {i % 12 + 1} o'clock with {i * 7 + 3} passengers."
                    for i in range(n))  # fmt: skip
    report = library.add([Article(id="ferries", title="Ferry log", text=text, source="api")])
    assert report.sentences_embedded == n
    stored = library.document("ferries")
    firsts = [j for j, s in enumerate(stored.layout.sentences) if j == 0 or s.chunk != stored.layout.sentences[j - 1].chunk]
    ids = store.sentences.get(where={"hash": stored.hash}, include=[])
    assert sorted(ids["ids"]) == sorted(f"{stored.hash}:{j}" for j in firsts) and len(firsts) < n / 10
    run = stored.run_of(firsts[3])  # the vector stands for its chunk's sentences, embedded together
    assert _vector_is_of(store, f"{stored.hash}:{firsts[3]}", stored.text_of(run), embed_model) and len(run) > 1
    answer = local_engine.ask("Which orchestra did Mirela Oskarsdottir join?")
    assert answer.citations and answer.citations[0].quote == fact, answer.answer
    assert stored.layout.sentences[j].start == answer.citations[0].start  # the highlight is the sentence, not its chunk
    # the article's own questions still answer from the small one beside it
    assert "Shahab al-Muhajir" in local_engine.ask("who leads ISIS-K?").answer


def test_a_text_is_kept_in_body_pieces_read_back_exactly(engine: QAEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry keeps an article's text and layout in pieces (a 5 MB record cost Chroma some 80 MB):
    read back through a fresh client, every character is where it was; the record itself holds neither."""
    from qa.index import store as store_module

    monkeypatch.setattr(store_module, "BODY_BYTES", 50)  # many pieces, cut inside words and between letters of two bytes
    text = "Zoë's café reopened in Kraków on 3 May. Its owner, Łukasz Żak, said the queue ran round the block. " * 3
    engine.library.add([Article(id="cafe", title="Café", text=text, source="api")])
    store = engine.library.store
    record = store.articles.get(ids=["cafe"], include=["documents", "metadatas"])
    assert record["documents"] == [""] and "layout" not in record["metadatas"][0]
    stored = engine.library.store.get("cafe")
    assert stored.parts == record["metadatas"][0]["parts"] > 5
    fresh = QAEngine(engine.settings, embed_model=engine.embed_model)
    again = fresh.library.store.get("cafe")
    assert again.article.text == text and again.layout == stored.layout
    assert {a.id: a.article.text for a in fresh.library.store.load()} == {"cafe": text}
    answer = fresh.ask("Who owns the café in Kraków?")
    assert "Łukasz Żak" in answer.answer and answer.citations[0].passage == text[answer.citations[0].passage_start : answer.citations[0].passage_end]
    engine.library.delete("cafe")  # its body goes with it
    assert store.texts.get()["ids"] == []


def test_a_record_made_before_bodies_still_reads_and_moves_to_a_body(local_engine: QAEngine) -> None:
    """An index written by an earlier version (text in the record's document, layout in its metadata)."""
    from qa.index.store import _layout_json

    local_engine.library.add([Article(id="dam", title="Dam repaired", text="Engineers repaired the dam in three weeks.", source="api")])
    store = local_engine.library.store
    stored = store.get("dam")
    meta = store.articles.get(ids=["dam"], include=["metadatas"])["metadatas"][0]
    store.articles.upsert(ids=["dam"], embeddings=[[1.0]], documents=[stored.article.text],
                          metadatas=[meta | {"parts": None, "layout": _layout_json(stored.layout)}])  # fmt: skip
    store.texts.delete(ids=store.texts.get()["ids"])
    fresh = QAEngine(local_engine.settings, embed_model=local_engine.embed_model)
    assert fresh.library.store.get("dam").article.text == stored.article.text
    assert fresh.ask("How long did the dam repair take?").citations[0].doc_id == "dam"
    legacy = fresh.library.store.get("dam")
    fresh.library.store.rename(legacy, legacy.article.model_copy(update={"id": "dam-2"}))  # a moved file, same text
    assert store.texts.get()["ids"] == [f"body:{stored.hash}:0"]
    reread = QAEngine(local_engine.settings, embed_model=local_engine.embed_model).library.store.load()
    assert [(a.id, a.article.text, a.layout) for a in reread] == [("dam-2", stored.article.text, stored.layout)]
