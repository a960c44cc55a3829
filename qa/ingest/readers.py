"""Read article files (txt, md, html, jsonl; pdf and docx through qa.ingest.documents) into `Article`s,
with page furniture removed.

Everything here is offline and deterministic: the same files always give the same articles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from qa.errors import BadInput, NotText, TooLarge
from qa.ingest.cleaning import clean_text
from qa.ingest.parse_cache import ParseCache
from qa.schemas import FIELD_LIMITS, Article, Parsed, SkippedLine
from qa.text import MAX_NESTING, InvalidText, check_text, json_too_deep, sentence_spans

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".pdf", ".docx")
_BINARY = {".pdf": "pdf_fields", ".docx": "docx_fields"}  # read by qa.ingest.documents, before any decoding
_FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
_SNIFF_BYTES = 8192
_BREAKS = {0x0B: "\n", 0x0C: "\n\n"}
MAX_FRONT_MATTER_CHARS = 65_536  # a few `key: value` lines; bounds the YAML parser's work


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
        return _parse_jsonl(raw, source=source)
    article = parse_text(raw, doc_id=slugify(Path(name).stem), source=source, fmt=_FORMATS[suffix], name=name)
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


# ---------------------------------------------------------------- formats


def parse_text(raw: str, *, doc_id: str, source: str, fmt: str = "txt", name: str | None = None) -> Article:
    """Parse one document's text (`fmt` txt, md or html); a front-matter `id` wins over `doc_id`. `name`
    is the file's name: the title of a one-paragraph .txt whose first sentence cannot be one."""
    if fmt == "html":
        return _parse_html(raw, doc_id=doc_id, source=source)
    if fmt not in ("txt", "md"):
        raise BadInput(f"unsupported format {fmt!r}; use txt, md or html")
    meta, body = _split_front_matter(raw.lstrip("\ufeff"))
    if fmt == "md":
        body = _strip_markdown(body)
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title = _field("title", meta.get("title"))
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        first_line = _heading(lines[first]) if fmt == "md" else lines[first].strip()
        alone = not any(line.strip() for line in lines[first + 1 :])
        # Without a declared title the first line is the headline (unless too long to be one), but a
        # .txt of one paragraph is all article: its first sentence is the title. With a declared
        # title, drop a repeated headline.
        if fmt == "txt" and title is None and alone:
            title = _first_sentence_title(first_line, name)
        elif (title is None and len(first_line) <= FIELD_LIMITS["title"]) or _squash(first_line) == title:
            title = title or first_line
            lines = lines[first + 1 :]
            if fmt == "md" and lines and re.fullmatch(r"\s*(=+|-+)\s*", lines[0]):
                lines = lines[1:]  # setext underline of the heading just taken
    meta_id = _field("id", meta.get("id"))
    return article_from_fields(
        doc_id=slugify(meta_id) if meta_id else doc_id,
        id_given=bool(meta_id),
        title=title or "",
        text="\n".join(lines),
        source=source,
        url=meta.get("url"),
        published=meta.get("published", meta.get("date")),
        author=meta.get("author"),
        site=meta.get("site"),
    )


def _first_sentence_title(paragraph: str, name: str | None) -> str | None:
    """A one-paragraph .txt's title: its first sentence, else (too long for a title) the file's name
    without its suffix, else None (the id)."""
    spans = sentence_spans(paragraph)
    first = _squash(paragraph[spans[0][0] : spans[0][1]]) if spans else ""
    if first and len(first) <= FIELD_LIMITS["title"]:
        return first
    return _squash(Path(name).stem) if name else None


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe subset without aliases, nested at most MAX_NESTING deep: a few hundred bytes of
    aliases to aliases ("billion laughs") expand to gigabytes."""

    _depth = 0

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (`*name`) are not allowed", mark)
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_NESTING} levels deep", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _load_front_matter(block: str) -> object:
    if len(block) > MAX_FRONT_MATTER_CHARS:
        raise BadInput(f"front matter is too large ({len(block)} characters; the limit is {MAX_FRONT_MATTER_CHARS})")
    try:
        return yaml.load(block, Loader=_FrontMatterLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 2}" if where is not None else ""
        raise BadInput(f"malformed front matter{at}: {getattr(exc, 'problem', None) or exc}") from exc
    except (ValueError, OverflowError) as exc:  # YAML reads it, Python cannot hold it: month 13, 5,000 digits
        raise BadInput(f"malformed front matter: {str(exc).split(';')[0]}") from exc


def _split_front_matter(raw: str) -> tuple[dict[str, Any], str]:
    lines = raw.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return {}, raw
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise BadInput("front matter is not closed (no second `---` line)")
    meta = _load_front_matter("".join(lines[1:end]))
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise BadInput("malformed front matter: expected `key: value` lines")
    return {str(k).lower(): v for k, v in meta.items()}, "".join(lines[end + 1 :])


def _without_closing_hashes(line: str) -> str:
    """`Title ##` -> `Title`; `C#` stays. String methods, not a regex: those backtrack on long lines."""
    text = line.rstrip()
    rest = text.rstrip("#")
    return rest.rstrip() if rest != text and rest[-1:].isspace() else text


def _heading(line: str) -> str:
    return _without_closing_hashes(re.sub(r"^\s*#{1,6}\s*", "", line)).strip()


# Every pattern stops at the next bracket or asterisk, so each character is scanned a bounded number of
# times: `[^\]]*` and `.+?` rescanned to the end from every `[` or `**` (minutes for a few kilobytes).
_URL = r"\((?:[^()]|\([^()]*\))*\)"  # one level of parentheses inside, as in wiki/Foo_(bar)
_IMAGE = re.compile(r"!\[[^\[\]]*\]" + _URL)
_LINK = re.compile(r"\[([^\[\]]+)\]" + _URL)
_BOLD = re.compile(r"\*\*(?=\S)([^*\n]*?[^\s*])\*\*|__(?=\S)([^_\n]*?[^\s_])__")
_SUBHEADING = re.compile(r"(?m)^[ \t]*#{2,6}[ \t]+(.*)$")


def _strip_markdown(body: str) -> str:
    # Only markup that would otherwise end up inside quoted citations; the rest is left as written.
    body = _IMAGE.sub("", body)
    body = _LINK.sub(r"\1", body)  # links keep their text
    body = _BOLD.sub(lambda m: m.group(1) or m.group(2), body)
    return _SUBHEADING.sub(lambda m: _without_closing_hashes(m.group(1)), body)


def extract_html(raw: str, *, url: str | None = None, precise: bool = False):
    """trafilatura's reading of a page (an .html file, or a page fetched by its link): the article's text
    without comments, tables or images, and its metadata."""
    import trafilatura  # slow import; only paid when HTML is actually read

    return trafilatura.bare_extraction(
        raw, url=url, with_metadata=True, include_comments=False, include_tables=False, include_images=False,
        favor_precision=precise,
        # dates from the page's markup only: a guess from its text takes a footer's "© 2026" for 1 January
        date_extraction_params={"extensive_search": False, "original_date": True},
    )  # fmt: skip


def without_headline(text: str, title: str | None) -> str:
    """`text` without a first line that repeats the title (trafilatura keeps the <h1>)."""
    lines = text.split("\n")
    return "\n".join(lines[1:] if title and _squash(lines[0]) == _squash(title) else lines)


def _parse_html(raw: str, *, doc_id: str, source: str) -> Article:
    doc = extract_html(raw)
    text = (getattr(doc, "text", None) or "").strip()
    if not text:
        raise BadInput("no article text could be extracted from the HTML")
    title = _field("title", (getattr(doc, "title", None) or "").strip() or _html_title(raw))
    return article_from_fields(
        doc_id=doc_id,
        title=title or "",
        text=without_headline(text, title),
        source=source,
        url=getattr(doc, "url", None),
        published=getattr(doc, "date", None),
        author=getattr(doc, "author", None),
    )


def _html_title(raw: str) -> str | None:
    # Two bounded searches rather than `<title.*?</title>`, which rescans to the end from every `<title`.
    start = re.search(r"<title\b[^<>]{0,200}>", raw, re.IGNORECASE)
    end = re.compile(r"</title\s*>", re.IGNORECASE).search(raw, start.end()) if start else None
    return html.unescape(raw[start.end() : end.start()]) if end else None


def _parse_jsonl(raw: str, *, source: str) -> Parsed:
    """A bad record is skipped with its line number and reason; a file with no good record is refused."""
    parsed = Parsed(articles=[])
    first_line: dict[str, int] = {}
    for n, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            article = _jsonl_record(line, source=source)
            if article.id in first_line:  # two records with one id would fight over one stored article
                raise BadInput(f"duplicate id {article.id!r} (first on line {first_line[article.id]})")
        except BadInput as exc:
            parsed.skipped.append(SkippedLine(line=n, reason=str(exc)))
            continue
        first_line[article.id] = n
        parsed.articles.append(article)
    if not parsed.articles:
        raise BadInput(_no_good_record(parsed.skipped))
    return parsed


def _no_good_record(skipped: list[SkippedLine]) -> str:
    if not skipped:
        return "no articles in the file"
    shown = "; ".join(f"line {s.line}: {s.reason}" for s in skipped[:3])
    rest = len(skipped) - 3
    more = f" (and {rest} more bad line{'s' if rest > 1 else ''})" if rest > 0 else ""
    return f"{shown}{more}; no record in the file could be read"


def _jsonl_record(line: str, *, source: str) -> Article:
    if json_too_deep(line):  # json.loads recurses once per level: 50,000 levels is a RecursionError
        raise BadInput(f"nested more than {MAX_NESTING} levels deep")
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadInput(f"invalid JSON ({exc.msg})") from exc
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise BadInput(f"invalid JSON ({str(exc).split(';')[0]})") from exc
    if not isinstance(rec, dict):
        raise BadInput("expected a JSON object")
    doc_id = rec.get("id")
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or not str(doc_id).strip():
        raise BadInput("missing `id`")
    if not isinstance(rec.get("text"), str):
        raise BadInput("missing `text`")
    declared_id = _field("id", doc_id) or ""
    return article_from_fields(
        doc_id=slugify(declared_id),
        id_given=True,
        title=_field("title", rec.get("title")) or declared_id,
        text=rec["text"],
        source=source,
        url=rec.get("url"),
        published=rec.get("published"),
        author=rec.get("author"),
    )


# ---------------------------------------------------------------- fields and text


def article_from_fields(
    *,
    doc_id: str,
    title: str,
    text: str,
    source: str,
    url: Any = None,
    published: Any = None,
    author: Any = None,
    id_given: bool = False,
    site: Any = None,
    feed: str | None = None,
) -> Article:
    """Build an Article: check every field (valid text, within FIELD_LIMITS), clean the text, tidy the
    fields; raises BadInput naming the field, or if no text is left."""
    doc_id = check_text(doc_id or "", "id").strip()
    if not doc_id:
        raise BadInput("article id is empty")
    _within_limit("id", doc_id)
    fields = {"title": _field("title", title) or doc_id, "url": _field("url", url),
              "published": _field("published", published), "author": _field("author", author),
              "site": _field("site", site), "feed": feed}  # fmt: skip
    # form feeds (pdftotext's page breaks) and vertical tabs (Word's line breaks) are breaks, not bad text
    body = clean_text(check_text((text or "").translate(_BREAKS), "text"))
    if not body:
        raise BadInput(f"article {doc_id!r} has no article text")
    return Article(id=doc_id, text=body, source=source, id_given=id_given, **fields)


def _field(name: str, value: Any) -> str | None:
    """A declared field (front matter, HTML metadata, a jsonl record, the JSON API) as tidy text, or None
    when absent or blank. Refused: lists and mappings, invalid text, more than FIELD_LIMITS[name]."""
    text = _scalar_text(name, value)
    if text is None:
        return None
    _within_limit(name, check_text(text, name))
    return _squash(text) or None


def _scalar_text(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dt.date, dt.datetime)):  # YAML turns `2021-08-26` into a date
        return value.isoformat()
    if isinstance(value, (bool, int, float)):
        return str(value)
    kind = {dict: "a mapping", list: "a list"}.get(type(value), type(value).__name__)
    raise InvalidText(f"{name} must be text, not {kind}", name)


def _within_limit(name: str, text: str) -> None:
    # Measured as given, before whitespace is tidied: the JSON API's max_length counts the same way.
    limit = FIELD_LIMITS[name]
    if len(text) > limit:
        raise InvalidText(f"{name} is too long ({len(text)} characters; the limit is {limit})", name)


def _squash(s: str) -> str:
    return " ".join(s.replace("\u00a0", " ").split())


class BadId(InvalidText):
    """An id given with an article that is not a slug (`slugify` would change it)."""

    status = 422


def slugify(name: str) -> str:
    """A stable id from a file stem or title: lowercase ASCII letters, digits and single dashes, at most
    FIELD_LIMITS["id"] characters."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    # Names with no ASCII letters at all (e.g. non-Latin titles) still need a stable, distinct id.
    if not slug:
        return "doc-" + digest
    limit = FIELD_LIMITS["id"]
    # A long title's id is cut, and keeps a hash of the whole so two long titles stay two ids.
    return slug if len(slug) <= limit else slug[: limit - len(digest) - 1].rstrip("-") + "-" + digest
