"""PDF (pypdf) and Word .docx (python-docx) files to an article's fields {title, text, author}: text in
reading order, paragraphs kept, lines wrapped by the layout joined, words hyphenated at a line end made
whole. pypdf and python-docx are imported when a file is read, so importing the readers stays fast."""

from __future__ import annotations

import io
import logging
import re

from qa.errors import BadInput, NotText, TooLarge
from qa.ingest.fields import squash
from qa.schemas import FIELD_LIMITS

_HYPHEN_END = re.compile(r"(\w)[-\u00ad]$")
_PAGE_NUMBER = re.compile(r"(page\s*)?\d{1,4}(\s*(of|/)\s*\d{1,4})?|[-–]\s*\d{1,4}\s*[-–]", re.IGNORECASE)
_JUNK_TITLE = re.compile(r"^(microsoft (word|powerpoint) - |untitled\b)|\.(docx?|pdf|txt|rtf|odt)$", re.IGNORECASE)
_JUNK_AUTHOR = {"python-docx"}  # the author in python-docx's blank template, not the writer's name
_NO_TEXT = "the PDF has no extractable text (a scanned document?); save it as text first"
MAX_UNZIPPED_BYTES = 256 << 20  # a .docx is a zip: bounds what a small upload may unpack to


def pdf_fields(data: bytes) -> dict:
    """{title, text, author} of a PDF; BadInput when it is corrupt, locked or has no text (scanned)."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a slightly malformed PDF is read, not logged line by line
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty password only
            except DependencyError:  # AES needs the optional `cryptography` package
                opened = False
            if not opened:
                raise BadInput("the PDF is encrypted or password-protected; save an unlocked copy first")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
        title, author = (meta.title, meta.author) if meta is not None else (None, None)
    except BadInput:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file; the user needs one line, not a traceback
        raise NotText(f"not a readable PDF ({_first_line(exc)})") from exc
    paragraphs = [p for page in pages for p in _paragraphs(page)]
    if not paragraphs:
        raise BadInput(_NO_TEXT)
    title = _tidy(title, "title")
    if title is None:
        first = next(line for page in pages for line in _lines(page) if line)
        title = _tidy(first, "title") or ""  # too long for a title: the file's name is the title
    if squash(paragraphs[0]) == title and len(paragraphs) > 1:
        paragraphs = paragraphs[1:]  # a heading on its own line, or the title repeated on the first page
    return {"title": title, "text": "\n\n".join(paragraphs), "author": _tidy(author, "author")}


def _lines(page: str) -> list[str]:
    lines = [line.strip() for line in page.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and (not lines[0] or _PAGE_NUMBER.fullmatch(lines[0])):
        lines.pop(0)  # page furniture: a page number above the text
    while lines and (not lines[-1] or _PAGE_NUMBER.fullmatch(lines[-1])):
        lines.pop()
    return lines


def _paragraphs(page: str) -> list[str]:
    lines = _lines(page)
    width = max((len(line) for line in lines), default=0)
    out: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        if not line:
            out.append(current)
            current = ""
            continue
        if current and _HYPHEN_END.search(current):  # "recon-" + "struction"; "Jean-" + "Paul" keeps its hyphen
            current = (current[:-1] if line[:1].islower() else current[:-1] + "-") + line
        else:
            current = f"{current} {line}" if current else line
        following = lines[i + 1] if i + 1 < len(lines) else ""
        # A line shorter than the page's wrap width, not ending in , ; or -, and followed by a capital
        # ended its paragraph (a heading, or a paragraph's last line); any other line break is a wrap.
        if following[:1].isupper() and len(line) < 0.8 * width and line[-1] not in ",;-\u00ad":
            out.append(current)
            current = ""
    out.append(current)
    return [p for p in out if p]


def docx_fields(data: bytes) -> dict:
    """{title, text, author} of a .docx: paragraphs and tables (a row per line, cells joined by " | ") in
    document order, empty paragraphs dropped."""
    import zipfile

    import docx
    from docx.table import Table

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(info.file_size for info in z.infolist()) > MAX_UNZIPPED_BYTES:
                raise TooLarge(f"the .docx file unpacks to more than {MAX_UNZIPPED_BYTES >> 20} MB")
        document = docx.Document(io.BytesIO(data))
        blocks: list[tuple[str, str]] = []  # (style name, text); style "" for a table row
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip())  # merged cells repeat
                    if cells:
                        blocks.append(("", " | ".join(cells)))
            elif block.text.strip():
                blocks.append((block.style.name if block.style is not None else "Normal", block.text.strip()))
        props = document.core_properties
        title, author = props.title, props.author
    except BadInput:
        raise
    except Exception as exc:  # not a zip, not a Word document, damaged XML: one line, not a traceback
        raise NotText(f"not a readable .docx file ({_first_line(exc)})") from exc
    if not blocks:
        raise BadInput("the .docx file has no text")
    title = _tidy(title, "title")
    if title is None:
        styled = [i for style in ("Title", "Heading 1") for i, (s, _) in enumerate(blocks) if s == style]
        k = styled[0] if styled else next((i for i, (s, _) in enumerate(blocks) if s), None)
        title = _tidy(blocks[k][1], "title") if k is not None else None
        if title and len(blocks) > 1:
            blocks.pop(k)  # the title is not also the first line of the text
    elif squash(blocks[0][1]) == title and len(blocks) > 1:
        blocks.pop(0)  # the title repeated as the first paragraph
    author = None if author in _JUNK_AUTHOR else _tidy(author, "author")
    return {"title": title or "", "text": "\n\n".join(text for _, text in blocks), "author": author}


def _tidy(value: object, field: str) -> str | None:
    """A title or author worth keeping: not blank, not a file name a writer put there, within its limit."""
    text = squash(str(value)) if value else ""
    if not text or len(text) > FIELD_LIMITS[field] or (field == "title" and _JUNK_TITLE.search(text)):
        return None
    return text


def _first_line(exc: Exception) -> str:
    message = str(exc).strip()
    return (message.splitlines()[0][:120] if message else "") or type(exc).__name__
