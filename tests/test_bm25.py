"""qa.index.bm25 against LlamaIndex's BM25Retriever, which it replaces: the same chunks in the same order
with the same scores, over real squad2 paragraphs; a text added then removed leaves no trace; and a
restart reads postings back from the cache instead of tokenizing again. The chunk counts beside it
(snapshot.Frequencies) follow texts as a recount would."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evals import benchmarks
from qa.config import Settings
from qa.index import bm25 as bm25_module
from qa.index.bm25 import BM25
from qa.index.cache import TextCache
from qa.index.passages import chunk_node
from qa.index.snapshot import Frequencies
from qa.index.store import StoredArticle
from qa.text import layout, terms

Hit = tuple[float, str, int]  # (-score, hash, chunk): best first, ties by key


@pytest.fixture(scope="module")
def squad() -> tuple[dict[str, StoredArticle], list[str]]:
    """200 squad2 paragraphs, cut into chunks as an ingest cuts them, and 100 of their questions."""
    bench = benchmarks.load("squad2", limit=None, seed=0)
    cut = Settings().ingest
    texts = {}
    for a in bench.articles[:200]:
        chunks = layout(a.text, chunk_chars=cut.chunk_chars, max_sentence_chars=cut.max_sentence_chars)
        texts[a.hash] = StoredArticle(a, a.hash, chunks)
    ids = {s.id for s in texts.values()}
    return texts, [c.question for c in bench.cases if c.doc_ids & ids][:100]


def _ranked(hits, k: int = 10) -> list[Hit]:
    """Positive hits ordered by score, ties by (hash, chunk): bm25s leaves the order of ties to chance."""
    keyed = [(-float(h.score), h.node.metadata["hash"], h.node.metadata["chunk"]) for h in hits if h.score > 0]
    return sorted(keyed)[:k]


def _answers(retriever: BM25, questions: list[str]) -> list[list[Hit]]:
    return [_ranked(retriever.retrieve(q)) for q in questions]


def test_same_chunks_and_scores_as_llamaindex_bm25(squad) -> None:
    from llama_index.retrievers.bm25 import BM25Retriever

    texts, questions = squad
    nodes = [chunk_node(s, k) for s in texts.values() for k in range(len(s.layout.chunks))]
    theirs = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=len(nodes))  # all: ties cut alike
    ours = BM25(similarity_top_k=10)
    ours.sync(texts)
    compared = 0
    for q in questions:
        expected, got = _ranked(theirs.retrieve(q)), _ranked(ours.retrieve(q))
        assert [key for _, *key in got] == [key for _, *key in expected], q
        assert [s for s, *_ in got] == pytest.approx([s for s, *_ in expected], abs=1e-5), q
        compared += len(got)
    assert compared > 900  # nearly every question has ten chunks sharing a word with it
    node = ours.retrieve(questions[0])[0].node  # the nodes chunk_node builds, for the hybrid retriever
    assert node.node_id == f"{node.metadata['hash']}:c{node.metadata['chunk']}" and node.metadata["doc_id"] in {
        s.id for s in texts.values()}  # fmt: skip


def test_a_text_added_then_removed_leaves_no_trace(squad) -> None:
    texts, questions = squad
    first, rest = next(iter(texts)), dict(list(texts.items())[1:])
    ours = BM25(similarity_top_k=10)
    ours.sync(rest)
    before = _answers(ours, questions)
    ours.sync(texts)
    assert _answers(ours, questions) != before  # the text counts while it is there
    ours.sync(rest)
    assert _answers(ours, questions) == before  # scores exactly as they were, not merely close
    assert first not in {h.node.metadata["hash"] for q in questions for h in ours.retrieve(q)}


def test_a_restart_reads_postings_from_the_cache(squad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts, questions = squad
    built = BM25(cache=TextCache(tmp_path / "bm25"), similarity_top_k=10)
    built.sync(texts)
    expected = _answers(built, questions[:20])

    def tokenized(texts: list) -> list:
        assert not texts, "a cached text was tokenized again"
        return []

    monkeypatch.setattr(bm25_module.Postings, "of", tokenized)
    restarted = BM25(cache=TextCache(tmp_path / "bm25"), similarity_top_k=10)
    restarted.sync(texts)
    assert _answers(restarted, questions[:20]) == expected


def test_chunk_counts_follow_texts_as_a_recount_would(squad) -> None:
    texts, _ = squad
    rest = dict(list(texts.items())[1:])
    counts = Frequencies()
    for step in (rest, texts, rest):
        counts.sync(step)
    chunks = [s.article.text[a:b] for s in rest.values() for a, b in s.layout.chunks]
    assert counts.df == Counter(t for c in chunks for t in set(terms(c))) and min(counts.df.values()) > 0
    assert counts.n_chunks == len(chunks) and "the" in counts.lower and "Normans" not in counts.lower


def test_texts_of_many_words_kept_compact_answer_as_the_others(squad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts above vocabulary.BIG keep their words in a Vocabulary of their own, not the shared dicts:
    with the bar at 40 words most of these paragraphs are such texts, and nothing scores or counts
    differently, computed or read back from the cache as a restart reads it."""
    from qa.index import vocabulary

    texts, questions = squad
    first, rest = next(iter(texts)), dict(list(texts.items())[1:])
    shared = BM25(similarity_top_k=10)
    shared.sync(texts)
    expected = _answers(shared, questions)
    plain = Frequencies()
    plain.sync(rest)
    monkeypatch.setattr(vocabulary, "BIG", 40)
    compact = BM25(similarity_top_k=10)
    compact.sync(rest)
    before = _answers(compact, questions)
    compact.sync(texts)
    big = set(compact._big)
    assert 50 < len(big) < len(texts) and _answers(compact, questions) == expected
    compact.sync(rest)
    assert _answers(compact, questions) == before and compact._big == big - {first}
    for _ in range(2):
        cached = BM25(cache=TextCache(tmp_path / "bm25"), similarity_top_k=10)
        cached.sync(texts)
        assert cached._big == big and _answers(cached, questions) == expected

    chunks = [s.article.text[a:b] for s in rest.values() for a, b in s.layout.chunks]
    recount = Counter(t for c in chunks for t in set(terms(c)))
    for _ in range(2):
        counts = Frequencies(TextCache(tmp_path / "bm25"))
        for step in (texts, rest):
            counts.sync(step)
        assert counts.big_terms and len(counts.df) < len(recount)  # the compact texts are not in the Counter
        assert {t: counts.chunks_holding(t) for t in recount} == recount and counts.chunks_holding("zzzunseen") == 0
        assert counts.big_lower and len(counts.lower) < len(plain.lower)
        assert all(counts.written_lower(w) for w in plain.lower) and not counts.written_lower("Normans")
        assert not any(counts.written_lower(w.capitalize() + "x") for w in list(plain.lower)[:500])
        assert counts.n_chunks == len(chunks)


def test_tally_numbers_words_as_a_sorted_dict_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tally (no str held per distinct word while it counts) numbers every word by its place among the
    sorted distinct words, across batches that repeat words, with non-ASCII words among them."""
    import random

    from qa.index import vocabulary

    monkeypatch.setattr(vocabulary, "BIG", 40)  # numbered by a dict at first, then by hash
    monkeypatch.setattr(vocabulary.Tally, "_FLUSH", 50)  # many batches, most words in several
    rng = random.Random(3)
    pool = ["".join(rng.choices("abcdéz", k=rng.randint(1, 6))) for _ in range(400)] + ["naïve", "Zürich", "a"]
    groups = [[rng.choice(pool) for _ in range(rng.randint(0, 30))] for _ in range(200)]
    tally = vocabulary.Tally()
    for group in groups:
        tally.add(group)
    words, ids = tally.finish()
    expected = sorted({w for g in groups for w in g})
    assert list(words) == expected and len(expected) > 200 and words.compact
    assert [words.index(w) for w in expected] == list(range(len(expected))) and words.index("q") == -1
    assert ids.tolist() == [expected.index(w) for g in groups for w in g]
    alone = vocabulary.Tally(numbered=False)  # the words without their numbering, as the lower-case words are kept
    for group in groups:
        alone.add(group)
    lone = alone.words()
    assert list(lone) == expected and [lone.index(w) for w in expected] == list(range(len(expected)))
    assert bytes(lone.encode()) == "\n".join(expected).encode() == bytes(words.encode())
    for few in ([], [[]], [["b", "a", "b"], ["c"]]):  # below BIG: the dict's numbering
        small = vocabulary.Tally()
        for group in few:
            small.add(group)
        words, ids = small.finish()
        assert list(words) == list(small.words()) == sorted({w for g in few for w in g}) and ids.tolist() == [sorted(words).index(w) for g in few for w in g]
