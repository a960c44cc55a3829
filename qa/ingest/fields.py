"""An article from its fields, however they came (front matter, HTML metadata, a jsonl record, the JSON
API): each checked and tidied, its id made from a name when none is given."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any


from qa.errors import BadInput
from qa.ingest.cleaning import clean_text
from qa.schemas import FIELD_LIMITS, Article
from qa.text import InvalidText, check_text

_BREAKS = {0x0B: "\n", 0x0C: "\n\n"}


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
    fields = {"title": field_text("title", title) or doc_id, "url": field_text("url", url),
              "published": field_text("published", published), "author": field_text("author", author),
              "site": field_text("site", site), "feed": feed}  # fmt: skip
    # form feeds (pdftotext's page breaks) and vertical tabs (Word's line breaks) are breaks, not bad text
    body = clean_text(check_text((text or "").translate(_BREAKS), "text"))
    if not body:
        raise BadInput(f"article {doc_id!r} has no article text")
    return Article(id=doc_id, text=body, source=source, id_given=id_given, **fields)


def field_text(name: str, value: Any) -> str | None:
    """A declared field (front matter, HTML metadata, a jsonl record, the JSON API) as tidy text, or None
    when absent or blank. Refused: lists and mappings, invalid text, more than FIELD_LIMITS[name]."""
    text = _scalar_text(name, value)
    if text is None:
        return None
    _within_limit(name, check_text(text, name))
    return squash(text) or None


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


def squash(s: str) -> str:
    """Runs of whitespace (no-break spaces too) as one space: a headline compared with a title."""
    return " ".join(s.split())


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
