"""How an answer marks its citations and dates, and the answer without them."""

from __future__ import annotations

import re

# How an answer marks a citation: "[n]". (qa.answer.verify parses the looser forms LLMs write.)
CITATION_MARKER = re.compile(r"\[(\d+)\]")
_SPACED_MARKER = re.compile(r"\s*" + CITATION_MARKER.pattern)


# what the engine writes before a dated quote (engine.answer_text): "As of 26 Aug 2021: ", "Earlier, as of ...: ", "Later, ..."
_DATE_LABEL = re.compile(r"(?:^|(?<=\] ))(?:Earlier, as of|Later, as of|As of) \d{1,2} [A-Z][a-z]{2} \d{4}: ")


def strip_markers(text: str) -> str:
    """An answer without its [n] markers (and the space before each) and the date labels before its quotes."""
    return _SPACED_MARKER.sub("", _DATE_LABEL.sub("", text)).strip()
