"""Sentence and chunk spans: offsets must point at the exact text."""

from __future__ import annotations

from qa.text import layout, sentence_spans, terms
from tests.support.helpers import CORPUS


def test_sentences_respect_abbreviations_initials_and_quotes() -> None:
    text = 'Mr. Smith met Dr. J. K. Rowling in Washington on Jan. 5. "It went well!" he said. The U.S. Army agreed.'
    got = [text[s:e] for s, e in sentence_spans(text)]
    assert got == ["Mr. Smith met Dr. J. K. Rowling in Washington on Jan. 5.", '"It went well!" he said.', "The U.S. Army agreed."]


def test_paragraph_breaks_end_sentences() -> None:
    text = "Headline without a stop\n\nFirst sentence here. Second one"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["Headline without a stop", "First sentence here.", "Second one"]


def test_layout_covers_every_sentence_once_with_exact_offsets() -> None:
    text = (CORPUS / "isis-k-explainer.txt").read_text()
    lay = layout(text, chunk_chars=400)
    assert len(lay.chunks) > 5
    for s in lay.sentences:
        start, end = lay.chunks[s.chunk]
        assert start <= s.start < s.end <= end
        assert text[s.start : s.end].strip() == text[s.start : s.end]
    assert [s.chunk for s in lay.sentences] == sorted(s.chunk for s in lay.sentences)
    assert all(e - s <= 400 or text[s:e].count(". ") == 0 for s, e in lay.chunks)
    assert "The group is led by an Iraqi militant called Shahab al-Muhajir." in [text[s.start : s.end] for s in lay.sentences]


def test_terms_meet_irregular_verbs_and_numbers() -> None:
    assert set(terms("Who leads the group?")) & set(terms("The group is led by him."))  >= {"lead"}
    assert "1,200" in terms("between 500 and 1,200 fighters")


def test_content_hash_reads_a_big_text_in_blocks_as_it_would_whole(monkeypatch) -> None:
    """An article's identity is the hash of its words joined by single spaces; it is fed a block at a time
    (a 5 MB text's words at once took 58 MB), and no cut between blocks may change it."""
    import hashlib
    import random

    import qa.schemas

    def whole(title: str, text: str) -> str:
        body = " ".join(title.split()) + "\n" + " ".join(text.split())
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]

    rng = random.Random(5)
    pieces = ["ferry", "é", " ", "\n\n", "\t", "\u3000", "\xa0", "\x1c", "\u2028", "Dunmore", "  "]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 60))) for _ in range(300)]
    for block in (1, 3, 7, 1 << 16):
        monkeypatch.setattr(qa.schemas, "_HASH_BLOCK", block)
        assert [qa.schemas.content_hash(" The  ferry ", t) for t in texts] == [whole(" The  ferry ", t) for t in texts]
    assert qa.schemas.content_hash("A", "one two") == qa.schemas.content_hash("A", " one\n\ttwo ")
    assert qa.schemas.content_hash("A", "one two") != qa.schemas.content_hash("A", "onetwo")
