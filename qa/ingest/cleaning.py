"""Page furniture (share buttons, cookie notices, "all rights reserved") removed from article text,
and whitespace made regular; the readers of every format run their body through `clean_text`."""

from __future__ import annotations

import re

_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n\s*")
# Only what changes: a sub over every single space of a 4.9 MB paragraph held some 50 MB of slices (issue 21)
_SPACES = re.compile(r"[ \t\f\v]{2,}|[\t\f\v]")
_EDGE_PUNCT = " .:;!|-–—•·»›>"

# Whole paragraph is one of these (after trimming edge punctuation).
_FURNITURE_EXACT = re.compile(
    r"advertisement|advert|ad|sponsored(?: content)?|story continues below(?: advertisement)?"
    r"|(?:source:\s*)?read (?:the )?full (?:article|story)|read more|continue reading|more info"
    r"|related(?: (?:articles?|stories|content|coverage|topics|news))?"
    r"|(?:(?:share(?: on)?|facebook|twitter|x|whatsapp|linkedin|e-?mail|pinterest|reddit|telegram"
    r"|messenger|flipboard|copy link|print|comments?)[\s|·•,/]*){2,}"  # social share row
    r"|[(\[]?(?:(?:image|photo|picture|pic)s?(?: credit)?\s*:\s*)?(?:[\w.&]+\s*/\s*)?getty(?: images)?"
    r"(?:\s*/\s*[\w.&]+)?[)\]]?",
    re.I,
)
# Paragraph starts with one of these and is short.
_FURNITURE_PREFIX = re.compile(
    r"source\s*:|read more\b|continue reading\b|share (?:this|the) (?:article|story|page|post)\b"
    r"|sign up (?:for|to|now)\b|click here\b|follow us\b|related (?:articles|stories|coverage)\b"
    r"|(?:we|this (?:web)?site) uses? cookies\b|(?:©|\(c\)|copyright)\s*(?:©\s*)?\d{4}",
    re.I,
)
_FURNITURE_ANYWHERE = re.compile(r"\ball rights reserved\b", re.I)
_STRONG_MAX_WORDS = 25
# Each alone is common in real reporting; boilerplate stacks several of them.
_WEAK_SIGNALS = [
    re.compile(p, re.I)
    for p in (
        r"\bsign(?:ing|ed)?[- ]?ups?\b",
        r"\bunsubscrib",
        r"\bsubscri(?:be|ption)",
        r"\bconsent",
        r"\bnewsletters?\b",
        r"\bcookies?\b",
        r"\bmore info\b",
        r"\bprivacy (?:policy|notice|statement|settings)\b",
        r"\badverts?\b|\badvertis(?:ing|ements?)\b|\bads\b",
        r"\b(?:3rd|third)[- ]part(?:y|ies)\b",
        r"\bterms (?:of (?:use|service)|and conditions)\b",
        r"\binbox\b",
        r"\bpersonali[sz]",
    )
]
# Lowercase `us` only: "US" is usually the country in news text.
_READER_ADDRESS = re.compile(r"\b(?:[Yy]ou|[Yy]our|[Ww]e|[Oo]ur|us)\b")
_WEAK_MAX_WORDS = 60


def _at_most(para: str, words: int) -> bool:
    """Whether `para` has at most `words` words, without a str for each (a 4.9 MB paragraph's split held
    some 45 MB)."""
    return len(para.split(maxsplit=words)) <= words


def _is_plain_furniture(para: str) -> bool:
    """Furniture by its wording alone ("Advertisement", "Read more ...")."""
    core = para.strip(_EDGE_PUNCT)
    if _FURNITURE_EXACT.fullmatch(core):
        return True
    return _at_most(para, _STRONG_MAX_WORDS) and bool(_FURNITURE_PREFIX.match(core) or _FURNITURE_ANYWHERE.search(core))


def _is_furniture(para: str) -> bool:
    if _is_plain_furniture(para):
        return True
    if not _at_most(para, _WEAK_MAX_WORDS - 1):
        return False
    signals = sum(1 for rx in _WEAK_SIGNALS if rx.search(para))
    return signals >= 3 or (signals >= 2 and bool(_READER_ADDRESS.search(para)))


def clean_text(text: str) -> str:
    """Normalise whitespace, one paragraph per block, and drop page-furniture paragraphs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    # Texts without blank lines (e.g. scraped, or trafilatura output) use one line per paragraph.
    blocks = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.split("\n")
    # Hard-wrapped lines are joined so sentences (and citation quotes) are not cut by newlines.
    paras = [_SPACES.sub(" ", " ".join(line.strip() for line in block.split("\n") if line.strip())) for block in blocks]
    kept = [p for p in paras if p and not _is_furniture(p)]
    # A short snippet that trails a site footer is still the article: never clean a text to nothing.
    return "\n\n".join(kept or [p for p in paras if p and not _is_plain_furniture(p)])
