"""Which stored article an incoming one is: the same (an edit, or the same file), or a new story that
happens to share a name.

An id made from a file name or title names a file, not a story: two folders both hold `bridge.txt`.
Such an article updates the stored one of that id only when it is an edit of it (most of its wording
kept), comes from the same file, or the caller says it replaces; otherwise it becomes a new article
`bridge-2` (then `-3`, …). An id the caller gave (front matter `id`, a jsonl record, the API's `id`)
is the article's identity and always updates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from qa.index.store import StoredArticle
from qa.schemas import FIELD_LIMITS, Article, uploaded

EDIT_SHARE = 0.5  # of the shorter text's word triples found in the other: measured, an edit keeps > 0.8
_WORD = re.compile(r"\w+")


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return set(zip(*(words[k:] for k in range(n))))


def is_edit(old: str, new: str) -> bool:
    """The same story, reworded or extended: most word triples of the shorter text are in the other
    (single words for a text of fewer than three)."""
    a, b = _WORD.findall(old.lower()), _WORD.findall(new.lower())
    n = 3 if min(len(a), len(b)) >= 3 else 1
    ga, gb = _grams(a, n), _grams(b, n)
    return len(ga & gb) >= EDIT_SHARE * min(len(ga), len(gb))


def file_of(source: str) -> Path | None:
    """The file an article was read from; None for one sent through the API (uploaded or pasted) or added by
    its link."""
    return Path(source).resolve() if not uploaded(source) and "://" not in source else None


def _same_file(a: Article, b: Article) -> bool:
    path = file_of(a.source)
    return path is not None and path == file_of(b.source)


def _is(stored: Article, article: Article) -> bool:
    return stored.hash == article.hash or _same_file(stored, article) or is_edit(stored.text, article.text)


def _numbered(doc_id: str, n: int) -> str:
    tail = f"-{n}"
    return doc_id[: FIELD_LIMITS["id"] - len(tail)].rstrip("-") + tail


def identify(articles: Sequence[Article], current: Mapping[str, StoredArticle], *, replace: bool = False) -> list[Article]:
    """`articles` with the ids they are stored under; `current` the registry as it is now."""
    taken: dict[str, Article] = {i: s.article for i, s in current.items()}
    taken |= {a.id: a for a in articles if a.id_given}  # a given id is held whatever comes before it
    out = []
    for article in articles:
        doc_id = article.id
        if not (replace or article.id_given):
            n = 1
            while (held := taken.get(doc_id)) is not None and not _is(held, article):
                n += 1
                doc_id = _numbered(article.id, n)
        if doc_id != article.id:
            article = article.model_copy(update={"id": doc_id})
        taken[doc_id] = article
        out.append(article)
    return out
