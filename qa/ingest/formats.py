"""The text formats: txt and md (with YAML front matter), html (trafilatura), jsonl. Offline and
deterministic: the same text always gives the same article."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import yaml

from qa.errors import BadInput
from qa.schemas import FIELD_LIMITS, Article, Parsed, SkippedLine
from qa.text import MAX_NESTING, json_too_deep, sentence_spans
from qa.ingest.fields import article_from_fields, field_text, slugify, squash

FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}  # suffix -> format
MAX_FRONT_MATTER_CHARS = 65_536  # a few `key: value` lines; bounds the YAML parser's work


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
    title = field_text("title", meta.get("title"))
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        first_line = _heading(lines[first]) if fmt == "md" else lines[first].strip()
        alone = not any(line.strip() for line in lines[first + 1 :])
        # Without a declared title the first line is the headline (unless too long to be one), but a
        # .txt of one paragraph is all article: its first sentence is the title. With a declared
        # title, drop a repeated headline.
        if fmt == "txt" and title is None and alone:
            title = _first_sentence_title(first_line, name)
        elif (title is None and len(first_line) <= FIELD_LIMITS["title"]) or squash(first_line) == title:
            title = title or first_line
            lines = lines[first + 1 :]
            if fmt == "md" and lines and re.fullmatch(r"\s*(=+|-+)\s*", lines[0]):
                lines = lines[1:]  # setext underline of the heading just taken
    meta_id = field_text("id", meta.get("id"))
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
    first = squash(paragraph[spans[0][0] : spans[0][1]]) if spans else ""
    if first and len(first) <= FIELD_LIMITS["title"]:
        return first
    return squash(Path(name).stem) if name else None


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
    return "\n".join(lines[1:] if title and squash(lines[0]) == squash(title) else lines)


def _parse_html(raw: str, *, doc_id: str, source: str) -> Article:
    doc = extract_html(raw)
    text = (getattr(doc, "text", None) or "").strip()
    if not text:
        raise BadInput("no article text could be extracted from the HTML")
    title = field_text("title", (getattr(doc, "title", None) or "").strip() or _html_title(raw))
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


def parse_jsonl(raw: str, *, source: str) -> Parsed:
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
    declared_id = field_text("id", doc_id) or ""
    return article_from_fields(
        doc_id=slugify(declared_id),
        id_given=True,
        title=field_text("title", rec.get("title")) or declared_id,
        text=rec["text"],
        source=source,
        url=rec.get("url"),
        published=rec.get("published"),
        author=rec.get("author"),
    )


