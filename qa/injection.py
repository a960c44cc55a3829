"""Text inside articles that speaks to an AI system rather than reporting news ("ignore your
instructions", forged prompt tags). Such a sentence is never shown to the LLM, never quoted in an
answer and never counted as evidence for one.
"""

from __future__ import annotations

import re

from qa.text import sentence_spans

_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines)\b"
    r"|\b(system|developer) (prompt|message|instructions?)\b"
    r"|\b(you are now|new instructions|from now on,? you)\b"
    r"|\b(AI|language model|LLM|chatbot|assistant|GPT)s?\b.{0,60}\b(must|should|are instructed to|will now)\b"
    r"|</?\s*(system|user|assistant|instructions?|passage)\s*>",
    re.IGNORECASE | re.DOTALL,
)
REDACTED = "[a sentence addressed to AI systems was removed]"


def instruction_like(sentence: str) -> bool:
    """Text that speaks to the model rather than reporting news: never shown to it, never evidence."""
    return bool(_INSTRUCTION.search(sentence))


def redact(text: str) -> str:
    out, pos = [], 0
    for start, end in sentence_spans(text):
        if instruction_like(text[start:end]):
            out += [text[pos:start], REDACTED]
            pos = end
    return "".join(out) + text[pos:]
