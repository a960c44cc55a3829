"""Text: sentence and chunk spans (offsets into the article, so a citation points at the exact span),
words and terms, the checks on text from outside, publication dates, and answers' citation markers."""

from qa.text.checks import MAX_NESTING, InvalidText, check_question, check_text, json_too_deep
from qa.text.dates import date_label, period_words, published_date
from qa.text.markers import CITATION_MARKER, strip_markers
from qa.text.sentences import MAX_SENTENCE_CHARS, Layout, Sentence, is_heading, is_question, layout, sentence_spans
from qa.text.words import STOPWORDS, terms, tokens, whole_words

__all__ = [
    "CITATION_MARKER", "MAX_NESTING", "MAX_SENTENCE_CHARS", "STOPWORDS", "InvalidText", "Layout", "Sentence",
    "check_question", "check_text", "date_label", "is_heading", "is_question", "json_too_deep", "layout",
    "period_words", "published_date", "sentence_spans", "strip_markers", "terms", "tokens", "whole_words",
]  # fmt: skip
