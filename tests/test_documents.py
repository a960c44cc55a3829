"""PDF and Word files (issue 22), written in the tests by real writers (fpdf2, python-docx), read through
the real readers, a real Chroma, the real engine and the real app."""

from __future__ import annotations

import io
import re

import docx
import pytest
from fpdf import FPDF

from qa.config import Settings
from qa.engine import QAEngine
from qa.errors import BadInput, NotText
from qa.ingest.readers import parse_bytes
from tests.support.helpers import started

WALL = ("The harbour wall at Dunmore was rebuilt over the winter by a crew of forty workers. The recon-\n"
        "struction cost 2.4 million euros, which the harbour trust paid in full.")  # fmt: skip
STORMS = "The old wall had stood since 1887 and was badly damaged by the storms of last January."
TERMINAL = "The ferry terminal will reopen in May with a new waiting room, the harbour master said."


def harbour_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_title("Dunmore harbour report")
    pdf.set_author("Ilse Varga")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(100, 6, WALL + "\n\n" + STORMS)  # narrow: the layout wraps every sentence over lines
    pdf.add_page()
    pdf.multi_cell(100, 6, TERMINAL)
    return bytes(pdf.output())


def market_docx() -> bytes:
    d = docx.Document()
    d.core_properties.author = "Mara Quell"
    d.add_heading("Night market moves to the fish hall", 0)
    d.add_paragraph("The night market will move to the old fish hall in April, organisers said.")
    d.add_heading("In numbers", 1)
    table = d.add_table(rows=2, cols=2)
    for r, (k, v) in enumerate((("Stalls", "60"), ("Visitors on a Saturday", "4,000"))):
        table.cell(r, 0).text, table.cell(r, 1).text = k, v
    d.add_paragraph("Organiser Petra Lind said the hall's new roof cost the town nothing.")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_a_pdf_keeps_reading_order_joins_wrapped_lines_and_hyphenated_words():
    [a] = parse_bytes(harbour_pdf(), name="Harbour Report.pdf", source="in/Harbour Report.pdf", max_bytes=10**6).articles
    assert (a.id, a.title, a.author) == ("harbour-report", "Dunmore harbour report", "Ilse Varga")
    paragraphs = a.text.split("\n\n")
    assert paragraphs == [WALL.replace("recon-\n", "recon"), STORMS, TERMINAL]  # both pages, in order, whole sentences
    assert "reconstruction" in a.text and "recon-" not in a.text


def test_a_docx_keeps_paragraphs_and_tables_in_order():
    [a] = parse_bytes(market_docx(), name="market.docx", source="market.docx", max_bytes=10**6).articles
    assert (a.id, a.title, a.author) == ("market", "Night market moves to the fish hall", "Mara Quell")
    assert a.text.split("\n\n") == [
        "The night market will move to the old fish hall in April, organisers said.", "In numbers",
        "Stalls | 60", "Visitors on a Saturday | 4,000", "Organiser Petra Lind said the hall's new roof cost the town nothing.",
    ]  # fmt: skip


def test_unreadable_files_are_one_line_refusals():
    blank = FPDF()
    blank.add_page()
    blank.rect(10, 10, 80, 80, style="F")  # a scanned page: a picture, no text
    cases = [(bytes(blank.output()), "scan.pdf", BadInput, "no extractable text (a scanned document?)"),
             (b"%PDF-1.4 not really", "broken.pdf", NotText, "not a readable PDF"),
             (b"PK\x03\x04 not really", "broken.docx", NotText, "not a readable .docx file"),
             (b"", "empty.pdf", BadInput, "empty file")]  # fmt: skip
    for data, name, kind, words in cases:
        with pytest.raises(kind, match=re.escape(words)) as info:
            parse_bytes(data, name=name, source=name, max_bytes=10**6)
        assert "\n" not in str(info.value)


def test_ingested_pdf_and_docx_are_answered_with_exact_offsets(tmp_path, embed_model, cli):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "harbour.pdf").write_bytes(harbour_pdf())
    (folder / "market.docx").write_bytes(market_docx())
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 not really")
    code, out, err = cli("ingest", str(folder))
    assert code == 1 and out.startswith("2 added") and "scan.pdf: not a readable PDF" in err

    engine = QAEngine(Settings(), embed_model=embed_model)
    for doc_id in ("harbour", "market"):
        stored = engine.library.document(doc_id)
        for s in stored.layout.sentences:  # every stored sentence is its text's own slice
            assert stored.article.text[s.start : s.end].strip() and not stored.article.text[s.start : s.end].startswith(" ")
    answer = engine.ask("How much did rebuilding the harbour wall cost?")
    [c] = [c for c in answer.citations if c.doc_id == "harbour"][:1]
    text = engine.library.document("harbour").article.text
    assert text[c.start : c.end] == c.quote and "2.4 million euros" in answer.answer


def test_a_pdf_upload_over_http(tmp_path, embed_model):
    from fastapi.testclient import TestClient

    from server import create_app

    engine = QAEngine(Settings(data_dir=tmp_path / "d"), embed_model=embed_model)
    with started(TestClient(create_app(engine=engine))) as c:
        r = c.post("/api/documents", files={"file": ("Harbour Report.pdf", harbour_pdf(), "application/pdf")})
        assert r.status_code == 201, r.text
        assert r.json()["documents"][0]["title"] == "Dunmore harbour report"
        r = c.post("/api/documents", files={"file": ("scan.pdf", b"%PDF-1.4 not really", "application/pdf")})
        assert r.status_code == 415 and "not a readable PDF" in r.json()["error"]["message"]
        assert len(c.get("/api/documents").json()) == 1
