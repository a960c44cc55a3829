"""PDF (pypdf) and Word .docx (python-docx) files to an article's fields: text in reading order,
paragraphs kept, lines wrapped by the layout joined, words hyphenated at a line end made whole."""

from __future__ import annotations

import io
import logging
import re

from qa.errors import BadInput, NotText

# a line that ends a sentence, followed by one that starts like a new paragraph, is a paragraph break;
# any other line break inside a page is the layout's wrap
_SENTENCE_END = re.compile(r"[.!?:\"”’)]\s*$")
_HYPHENATED = re.compile(r"(\w)-\n(\w)")  # "recon-\nstruction" -> "reconstruction"
_JUNK_TITLE = re.compile(r"^(microsoft word - |untitled)|\.(docx?|pdf|txt)$", re.IGNORECASE)


def pdf_fields(data: bytes) -> dict:
    """{title, text, author} of a PDF; BadInput when it is corrupt, locked or has no text (scanned)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a slightly malformed PDF is read, not reported line by line
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadInput("the PDF is password-protected; save an unlocked copy first")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise NotText(f"not a readable PDF ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from exc
    paragraphs = [p for page in pages for p in _paragraphs(page)]
    if not paragraphs:
        raise BadInput("the PDF has no extractable text (a scanned document?); save it as text first")
    title = _clean_title(meta.get("/Title"))
    if title is None:
        title, paragraphs = paragraphs[0], paragraphs[1:]
    elif paragraphs and " ".join(paragraphs[0].split()) == title:
        paragraphs = paragraphs[1:]  # the title repeated as the first line
    return {"title": title, "text": "\n\n".join(paragraphs), "author": _clean_title(meta.get("/Author"))}


def _paragraphs(page: str) -> list[str]:
    text = _HYPHENATED.sub(r"\1\2", page.replace("\r\n", "\n").replace("\r", "\n"))
    out: list[str] = []
    current: list[str] = []
    lines = [line.strip() for line in text.split("\n")]
    for i, line in enumerate(lines):
        if not line:
            if current:
                out.append(" ".join(current))
                current = []
            continue
        current.append(line)
        following = next((n for n in lines[i + 1 :] if n), "")
        if _SENTENCE_END.search(line) and following[:1].isupper() and len(line) < 0.8 * max(len(following), 1):
            out.append(" ".join(current))  # a short last line: the paragraph ended there
            current = []
    if current:
        out.append(" ".join(current))
    return [p for p in out if p]


def _clean_title(value) -> str | None:
    title = " ".join(str(value).split()) if value else ""
    return title if title and not _JUNK_TITLE.search(title) else None


def docx_fields(data: bytes) -> dict:
    """{title, text, author} of a .docx: paragraphs and tables in document order."""
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise NotText("not a readable .docx file (a Word document saved as .docx)") from exc
    blocks: list[tuple[str, str]] = []  # (style name, text)
    try:
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))  # merged cells repeat
                    if cells:
                        blocks.append(("table", " | ".join(cells)))
            elif block.text.strip():
                blocks.append((block.style.name if block.style is not None else "", block.text.strip()))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise NotText("not a readable .docx file") from exc
    if not blocks:
        raise BadInput("the .docx file has no text")
    props = document.core_properties
    title = _clean_title(props.title)
    if title is None:
        k = next((i for i, (style, _) in enumerate(blocks) if style in ("Title", "Heading 1")), 0)
        title = blocks.pop(k)[1]
    elif " ".join(blocks[0][1].split()) == title:
        blocks.pop(0)
    return {"title": title, "text": "\n\n".join(text for _, text in blocks), "author": _clean_title(props.author)}
