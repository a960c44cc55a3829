"""What the pages say: counts in words, sizes, sentences, and every refusal or failure in plain words
(plainError in common.js words them the same way); links shown only when plain http(s)."""

from __future__ import annotations

import re
from urllib.parse import urlparse


from qa import progress
from qa.errors import QAError
from qa.schemas import ArticleInfo, Citation
from server.errors import ApiError


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 passage', '2 passages', '12,345 articles': the CLI's words, with thousands grouped for reading."""
    return progress.plural(n, one, many, grouped=True)


def size_text(n: int) -> str:
    """A byte limit as people read it: 5000000 -> '5 MB'."""
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return plural(n, "byte")


def sentence(text: str) -> str:
    """A server message as a sentence: capital first letter, final full stop."""
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


_JARGON = re.compile(r"\b[A-Za-z]*(Error|Exception)\b|Traceback")


def plain_error(status: int, message: str = "", *, code: str | None = None, what: str = "request",
                key_sent: bool = False, limit: int | None = None) -> str:  # fmt: skip
    """What to tell a person about a refused or failed request. `what` is what they sent ("question",
    "article", "file", "library"); `limit` the upload limit in bytes. Mirrors plainError in common.js."""
    if status in (401, 403):
        if key_sent:
            return "That API key was not accepted. Check it and try again."
        return "This needs the API key: enter it in the API key field and try again."
    if status == 413:
        if what in ("file", "article", "link") and limit:
            return f"That {'page' if what == 'link' else what} is too large (the limit is {size_text(limit)})."
        return f"That {what} is too large."
    if status == 503:
        if code == "index_busy" or "another process is writing" in message:
            return "Another process is writing to the index; try again in a moment."
        if "reachable" not in message and ("loading" in message or "not ready" in message):
            return "The service is still starting up; try again in a moment."
        return "The search index is not reachable; try again in a moment."
    if status >= 500 or status <= 0:
        return "Something went wrong on our side; try again."
    if status == 409 and (code == "nothing_indexed" or "nothing is indexed" in message):
        return "Nothing is indexed yet: add an article in the Library first."
    if status == 404 and what in ("article", "library"):
        return "That article is no longer in the library."
    if not message.strip() or _JARGON.search(message):
        return "That did not work; check what you entered and try again."
    return sentence(message)


def error_words(err: QAError | ApiError, **kwargs) -> str:
    message = err.message if isinstance(err, ApiError) else str(err)
    return plain_error(err.status, message, code=getattr(err, "code", None), **kwargs)


def safe_url(url: str | None) -> str | None:
    """Only plain http(s) links are shown. Browsers drop tabs and newlines inside a scheme
    ("java\tscript:"), so any whitespace or control character refuses the URL outright."""
    if not url or any(ch.isspace() or ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in url):
        return None
    return url if url.lower().startswith(("http://", "https://")) and urlparse(url).netloc else None


def citation_source(c: Citation) -> str:
    """A cited article's source as a reader names it: its site, its link's host, its file, or 'uploaded'."""
    return source_label(ArticleInfo.model_construct(source=c.source, url=c.url, site=c.site))


def source_label(info: ArticleInfo) -> str:
    """Where an article came from, for the list: its site, its file, or 'uploaded'."""
    url = safe_url(info.url)
    if info.site:
        return info.site
    if url:
        return (urlparse(url).hostname or url).removeprefix("www.")
    return "uploaded" if info.source == "api" else info.source.replace("\\", "/").rsplit("/", 1)[-1]  # the file's name


