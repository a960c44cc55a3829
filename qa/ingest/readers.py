"""Read article files and folders into `Article`s: each file's format by its suffix (txt, md, html and jsonl
through qa.ingest.formats; pdf and docx through qa.ingest.documents), with page furniture removed.

Everything here is offline and deterministic: the same files always give the same articles.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from qa.errors import BadInput, NotText, TooLarge
from qa.ingest.fields import article_from_fields, slugify
from qa.ingest.formats import FORMATS, parse_jsonl, parse_text
from qa.ingest.parse_cache import ParseCache
from qa.schemas import Article, Parsed

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".pdf", ".docx")
_BINARY = {".pdf": "pdf_fields", ".docx": "docx_fields"}  # read by qa.ingest.documents, before any decoding
_SNIFF_BYTES = 8192


class Skipped(BaseModel):
    path: str  # the file, or "file:line" for one jsonl record
    reason: str
    file: str | None = None  # the file, when `path` names one of its records


class CorpusScan(BaseModel):
    articles: list[Article]
    skipped: list[Skipped]
    files: list[str]


# ---------------------------------------------------------------- files and folders


def read_paths(paths: Sequence[Path], *, max_bytes: int, cache: ParseCache | None = None) -> CorpusScan:
    """Read every supported file under `paths`; bad files are skipped with a reason, not fatal. With a
    `cache`, a file whose bytes were parsed before is not parsed again."""
    paths = [Path(p) for p in paths]
    for path in paths:  # checked up front so a typo does not leave a half-done ingest
        if not path.exists():
            raise BadInput(f"no such file or directory: {path}")
    scan = CorpusScan(articles=[], skipped=[], files=[])
    seen_files: set[Path] = set()
    first_source: dict[str, str] = {}
    for path in paths:
        for file in _walk(path) if path.is_dir() else [path]:
            if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                scan.skipped.append(Skipped(path=str(file), reason="unsupported file type"))
                continue
            # A file named twice (or a folder plus a file inside it) is read once, not flagged as duplicate.
            key = file.resolve()
            if key in seen_files:
                continue
            seen_files.add(key)
            scan.files.append(str(file))
            try:
                parsed = _read(file, max_bytes=max_bytes, cache=cache)
            except BadInput as exc:
                scan.skipped.append(Skipped(path=str(file), reason=str(exc)))
                continue
            # `file:line`, as compilers name a line: one warning per bad record, the others are read
            scan.skipped += [Skipped(path=f"{file}:{s.line}", reason=s.reason, file=str(file)) for s in parsed.skipped]
            for article in parsed.articles:
                # a given id names one article; a made one only a file (qa.ingest.identity numbers the rest)
                if article.id_given and article.id in first_source:
                    reason = (
                        f"duplicate id {article.id!r}: {article.source} repeats the id "
                        f"already read from {first_source[article.id]}"
                    )
                    scan.skipped.append(Skipped(path=article.source, reason=reason))
                    continue
                first_source.setdefault(article.id, article.source)
                scan.articles.append(article)
    return scan


def read_file(path: Path, *, max_bytes: int) -> list[Article]:
    """Read one file into its articles (one, or one per good jsonl line; `read_paths` reports the bad
    lines); raises BadInput naming the file."""
    try:
        return _read(Path(path), max_bytes=max_bytes).articles
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from exc


def _walk(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # prune, don't descend into .git etc.
        found += [
            Path(dirpath) / name
            for name in filenames
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES
        ]
    return sorted(found, key=lambda p: p.parts)


def _read(path: Path, *, max_bytes: int, cache: ParseCache | None = None) -> Parsed:
    if not path.is_file():
        raise BadInput("not a regular file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TooLarge(f"file is too large ({size} bytes; the limit is {max_bytes})")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # bounded even if the file grew since stat()
    except OSError as exc:
        raise BadInput(f"cannot read file: {exc.strerror or exc}") from exc
    if cache is None or len(data) > max_bytes:
        return parse_bytes(data, name=path.name, source=str(path), max_bytes=max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    parsed = cache.get(str(path), digest)
    if parsed is None:  # a refused file raises here and is never cached
        parsed = parse_bytes(data, name=path.name, source=str(path), max_bytes=max_bytes)
        cache.put(str(path), digest, parsed)
    return parsed


def parse_bytes(data: bytes, *, name: str, source: str, max_bytes: int) -> Parsed:
    """One file's content (read from disk or uploaded) -> its articles; the suffix of `name` is the format."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise NotText(f"unsupported file type {suffix or '(none)'!r}; use {', '.join(SUPPORTED_SUFFIXES)}")
    if suffix in _BINARY:
        if len(data) > max_bytes:
            raise TooLarge(f"file is too large (over {max_bytes} bytes)")
        if not data.strip():
            raise BadInput("empty file")
        from qa.ingest import documents

        fields = getattr(documents, _BINARY[suffix])(data)
        return Parsed(articles=[article_from_fields(doc_id=slugify(Path(name).stem), source=source, **fields)])
    raw = decode(data, max_bytes=max_bytes)
    if suffix == ".jsonl":
        return parse_jsonl(raw, source=source)
    article = parse_text(raw, doc_id=slugify(Path(name).stem), source=source, fmt=FORMATS[suffix], name=name)
    return Parsed(articles=[article])


def decode(data: bytes, *, max_bytes: int) -> str:
    """Refuse oversized, empty, binary and non-UTF-8 content with a message that says which."""
    if len(data) > max_bytes:
        raise TooLarge(f"file is too large (over {max_bytes} bytes)")
    if not data.strip():
        raise BadInput("empty file")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise NotText("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(f"not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8") from exc
