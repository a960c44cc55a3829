"""The LLM's prompts: Jinja2 templates in prompts/, loaded and checked once, so a template that
names an unknown variable or forgets a required one fails at start-up, not in an answer.

Article text is data, never instructions: it reaches the model only through the `quoted` filter,
which makes it impossible to close the <passage> block, and sentences that address an AI system
("ignore your instructions") are replaced by a note before the model sees them (qa.answer.injection).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from qa.answer.injection import redact
from qa.errors import QAError
from qa.schemas import Turn


class PromptError(QAError):
    status = 500


@dataclass(frozen=True)
class PromptPassage:
    number: int
    title: str
    text: str
    published: str | None = None


# name -> (variables it must use, variables it may use)
TEMPLATES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "system": (frozenset(), frozenset({"abstain_text", "max_sentences"})),
    "answer": (frozenset({"question", "passages"}), frozenset({"question", "passages"})),
    "condense": (frozenset({"question", "history"}), frozenset({"question", "history"})),
}


def quoted(value: object) -> str:
    """No angle brackets inside data: a passage cannot forge a closing tag or a chat-role marker."""
    return str(value).replace("<", "\u2039").replace(">", "\u203a")


class Prompts:
    def __init__(self, directory: Path, *, abstain_text: str, max_sentences: int) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, meta

        self.directory = Path(directory)
        env = Environment(
            loader=FileSystemLoader(self.directory), undefined=StrictUndefined, autoescape=False,
            keep_trailing_newline=False, trim_blocks=False,
        )  # fmt: skip
        env.filters["quoted"] = quoted
        self._fixed = {"abstain_text": abstain_text, "max_sentences": max_sentences}
        self._templates = {}
        for name, (required, allowed) in TEMPLATES.items():
            path = self.directory / f"{name}.j2"
            try:
                source = path.read_text(encoding="utf-8")
                used = meta.find_undeclared_variables(env.parse(source))
                template = env.get_template(path.name)
            except (OSError, TemplateError) as err:
                raise PromptError(f"prompt {path}: {err}") from err
            if missing := sorted(required - used):
                raise PromptError(f"prompt {path} never uses {', '.join(missing)}")
            if unknown := sorted(used - allowed):
                raise PromptError(
                    f"prompt {path} uses unknown variable(s) {', '.join(unknown)}; it may use {', '.join(sorted(allowed))}"
                )
            self._templates[name] = template
        self._check()

    def _render(self, name: str, **values: object) -> str:
        from jinja2 import TemplateError

        try:
            text = self._templates[name].render(**self._fixed, **values).strip()
        except TemplateError as err:
            raise PromptError(f"prompt {self.directory / (name + '.j2')}: {err}") from err
        if not text:
            raise PromptError(f"prompt {self.directory / (name + '.j2')} renders to nothing")
        return text

    def _check(self) -> None:
        """Render each template once with sample values: a typo such as `p.titel` fails here."""
        sample = [PromptPassage(1, "Title", "Text.", "2024-01-01"), PromptPassage(2, "Title", "Text.")]
        history = [Turn(role="user", content="Question?"), Turn(role="assistant", content="Answer. [1]")]
        self.system()
        self.answer("Question?", sample)
        self.condense("Question?", history)

    def system(self) -> str:
        return self._render("system")

    def answer(self, question: str, passages: Sequence[PromptPassage]) -> str:
        shown = [
            PromptPassage(p.number, redact(p.title), redact(p.text), p.published and redact(p.published))
            for p in passages
        ]
        return self._render("answer", question=question, passages=shown)

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        return self._render(
            "condense", question=question, history=[Turn(role=t.role, content=redact(t.content)) for t in history]
        )
