"""PDF and Word files (issue 22), written in the tests by real writers (fpdf2, python-docx), read through
the real readers, a real Chroma, the real engine and the real app."""

from __future__ import annotations

import io
import re
import zipfile

import docx
import numpy as np
import pytest
from fpdf import FPDF

from qa.config import Settings
from qa.engine import QAEngine
from qa.errors import BadInput, NotText, TooLarge
from qa.ingest.readers import parse_bytes
from tests.support.helpers import started

# the writer is told where the lines break: "recon-" ends a line, "well-known" sits inside one
WALL = ("The harbour wall at Dunmore was rebuilt over the winter by a crew of forty workers. The recon-\n"
        "struction cost 2.4 million euros, which the harbour trust paid in full.")  # fmt: skip
STORMS = "The old wall, a well-known landmark, had stood since 1887 and was damaged by the storms of last January."
TERMINAL = "The ferry terminal will reopen in May with a new waiting room, the harbour master said."


def harbour_pdf(*, title: str | None = "Dunmore harbour report") -> bytes:
    pdf = FPDF()
    if title is not None:
        pdf.set_title(title)
    pdf.set_author("Ilse Varga")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(100, 6, "Harbour wall rebuilt\n" + WALL + "\n" + STORMS)  # narrow: every sentence wraps
    pdf.add_page()
    pdf.multi_cell(100, 6, TERMINAL + "\n2")  # and a page number under it
    return bytes(pdf.output())


def scanned_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 80, 80, style="F")  # a scanned page: a picture, no text
    return bytes(pdf.output())


def market_docx(*, title: str = "") -> bytes:
    d = docx.Document()
    d.core_properties.author = "Mara Quell"
    d.core_properties.title = title
    d.add_heading("Night market moves to the fish hall", 0)
    d.add_paragraph("The night market will move to the old fish hall in April, organisers said.")
    d.add_paragraph("   ")  # empty paragraphs are dropped
    d.add_heading("In numbers", 1)
    table = d.add_table(rows=2, cols=2)
    for r, (k, v) in enumerate((("Stalls", "60"), ("Visitors on a Saturday", "4,000"))):
        table.cell(r, 0).text, table.cell(r, 1).text = k, v
    d.add_paragraph("Organiser Petra Lind said the hall's new roof cost the town nothing.")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def parse(data: bytes, name: str, max_bytes: int = 10**6):
    [article] = parse_bytes(data, name=name, source=f"in/{name}", max_bytes=max_bytes).articles
    return article


def test_a_pdf_keeps_reading_order_joins_wrapped_lines_and_hyphenated_words():
    a = parse(harbour_pdf(), "Harbour Report.pdf")
    assert (a.id, a.title, a.author, a.source) == ("harbour-report", "Dunmore harbour report", "Ilse Varga",
                                                   "in/Harbour Report.pdf")  # fmt: skip
    # both pages in order, each paragraph whole; the heading is its own paragraph; no page number
    assert a.text.split("\n\n") == ["Harbour wall rebuilt", WALL.replace("recon-\n", "recon"), STORMS, TERMINAL]
    assert "reconstruction" in a.text and "recon-" not in a.text and "well-known landmark" in a.text
    assert a.published is None  # the PDF's creation date is not the story's date


def test_a_pdf_without_a_title_is_titled_by_its_first_line():
    for junk in (None, "Microsoft Word - harbour.docx", "  "):
        a = parse(harbour_pdf(title=junk), "harbour.pdf")
        assert a.title == "Harbour wall rebuilt" and a.text.startswith("The harbour wall at Dunmore"), junk


def test_a_docx_keeps_paragraphs_and_tables_in_order():
    a = parse(market_docx(), "market.docx")
    assert (a.id, a.title, a.author) == ("market", "Night market moves to the fish hall", "Mara Quell")
    assert a.text.split("\n\n") == [
        "The night market will move to the old fish hall in April, organisers said.", "In numbers",
        "Stalls | 60", "Visitors on a Saturday | 4,000",
        "Organiser Petra Lind said the hall's new roof cost the town nothing.",
    ]  # fmt: skip


def test_a_docx_title_comes_from_its_properties_first():
    a = parse(market_docx(title="Market news"), "market.docx")
    assert a.title == "Market news" and a.text.startswith("Night market moves to the fish hall\n\nThe night market")
    d = docx.Document()  # python-docx's blank template names "python-docx" as the author: not the writer
    d.add_paragraph("Ferry fares rise")
    d.add_paragraph("Fares on the island ferry rise by a tenth from June.")
    out = io.BytesIO()
    d.save(out)
    a = parse(out.getvalue(), "fares.docx")
    assert (a.title, a.author) == ("Ferry fares rise", None)
    assert a.text == "Fares on the island ferry rise by a tenth from June."


def _locked_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(harbour_pdf())))
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _zip_not_word() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "not a Word document")
    return out.getvalue()


@pytest.mark.parametrize(("data", "name", "kind", "words"), [
    (scanned_pdf(), "scan.pdf", BadInput,
     "the PDF has no extractable text (a scanned document?); save it as text first"),
    (b"%PDF-1.4 not really", "broken.pdf", NotText, "not a readable PDF"),
    (harbour_pdf()[:900], "cut.pdf", NotText, "not a readable PDF"),
    (_locked_pdf(), "locked.pdf", BadInput, "the PDF is encrypted or password-protected"),
    (b"PK\x03\x04 not really", "broken.docx", NotText, "not a readable .docx file"),
    (_zip_not_word(), "other.docx", NotText, "not a readable .docx file"),
    (b"", "empty.pdf", BadInput, "empty file"),
    (harbour_pdf(), "big.pdf", TooLarge, "file is too large"),
])  # fmt: skip
def test_unreadable_files_are_one_line_refusals(data, name, kind, words, caplog):
    with pytest.raises(kind, match=re.escape(words)) as info:
        parse(data, name, max_bytes=1000 if name == "big.pdf" else 10**6)
    assert "\n" not in str(info.value) and not caplog.records  # and pypdf's warnings stay quiet


def test_ingested_pdf_and_docx_are_answered_with_exact_offsets(tmp_path, embed_model, cli):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "harbour.pdf").write_bytes(harbour_pdf())
    (folder / "market.docx").write_bytes(market_docx())
    (folder / "scan.pdf").write_bytes(scanned_pdf())
    code, out, err = cli("ingest", str(folder))
    assert code == 1 and out.startswith("2 added") and "scan.pdf: the PDF has no extractable text" in err

    engine = QAEngine(Settings(), embed_model=embed_model)  # the index `qa ingest` wrote, in tmp_path
    store = engine.library.store
    for doc_id in ("harbour", "market"):
        stored = engine.library.document(doc_id)
        text = stored.article.text
        ids = [f"{stored.hash}:{j}" for j in range(len(stored.layout.sentences))]
        got = store.sentences.get(ids=ids, include=["embeddings"])
        vectors = dict(zip(got["ids"], got["embeddings"]))
        slices = [text[s.start : s.end] for s in stored.layout.sentences]
        assert all(t == t.strip() != "" for t in slices)
        expected = embed_model.get_text_embedding_batch(slices)
        for j in range(len(slices)):  # every embedded sentence is its text's own slice
            assert np.allclose(vectors[ids[j]], expected[j], atol=1e-4)
        if doc_id == "harbour":  # a sentence wrapped and hyphenated over three lines of the PDF is one sentence
            whole = "The reconstruction cost 2.4 million euros, which the harbour trust paid in full."
            assert whole in slices

    answer = engine.ask("How much did the reconstruction of the harbour wall cost?")
    text = engine.library.document("harbour").article.text
    assert answer.citations
    assert all(c.doc_id == "harbour" and text[c.start : c.end] == c.quote for c in answer.citations)
    assert any("2.4 million euros" in c.quote for c in answer.citations) and "2.4 million euros" in answer.answer

    # the scanned file alone is refused and the index is left as it was
    before = (engine.library.count(), store.sentences.count())
    code, out, err = cli("ingest", str(folder / "scan.pdf"))
    assert code == 1 and "no extractable text" in err and len(err.strip().splitlines()) == 1
    assert (engine.library.count(), store.sentences.count()) == before


def test_a_pdf_upload_over_http(tmp_path, embed_model):
    from fastapi.testclient import TestClient

    from server import create_app

    engine = QAEngine(Settings(data_dir=tmp_path / "d"), embed_model=embed_model)
    with started(TestClient(create_app(engine=engine))) as c:
        r = c.post("/api/documents", files={"file": ("Harbour Report.pdf", harbour_pdf(), "application/pdf")})
        assert r.status_code == 201, r.text
        assert r.json()["documents"][0]["title"] == "Dunmore harbour report"
        r = c.post("/api/documents", files={"file": ("scan.pdf", scanned_pdf(), "application/pdf")})
        assert r.status_code == 400 and "no extractable text" in r.json()["error"]["message"]
        broken = ("broken.docx", b"PK\x03\x04 not really", "application/octet-stream")
        r = c.post("/api/documents", files={"file": broken})
        assert r.status_code == 415 and "not a readable .docx file" in r.json()["error"]["message"]
        assert len(c.get("/api/documents").json()) == 1
