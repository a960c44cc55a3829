"""Text inside articles that speaks to an AI system rather than reporting news ("ignore your
instructions", forged prompt tags). Such a sentence is never shown to the LLM, never quoted in an
answer and never counted as evidence for one.
"""

from __future__ import annotations

import re

from qa.text import sentence_spans

# unambiguous names for an AI system: "assistant" or "model" alone is everyday news language
_AI = r"(?:AI|A\.I\.|artificial intelligence|(?:large )?language models?|LLMs?|chat ?bots?|GPTs?)"
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines)\b"
    r"|\b(system|developer) (prompt|message|instructions?)\b"
    r"|\b(you are now|new instructions|from now on,? you|the rules (have )?changed)\b"
    rf"|\b{_AI}\b.{{0,40}}\b(must|should|are instructed to|will now|need to)\s+(always\s+|now\s+)?"
    r"(ignore|say|tell|answer|respond|reply|write|state|claim|output|print|repeat|follow|obey)\b"
    rf"|\b{_AI}\b.{{0,30}}\breading this\b"
    rf"|\b(attention|note|message|notice|dear|hey)\b.{{0,20}}\b{_AI}"
    r"|^\W*(tell|say to|inform|instruct|remind|answer|respond to|reply to) (the |your |all )?(readers?|users?|people|everyone)\b"
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
