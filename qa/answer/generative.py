"""Generative answers: the LLM writes, the verifier decides what reaches the user.

Every LLM call runs in a worker thread and is waited on with a deadline, so a slow or silent server
costs at most the configured timeout; any failure becomes a warning and the extractive answer.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from qa.answer.extractive import ABSTAIN_TEXT
from qa.answer.prompts import PromptPassage, Prompts
from qa.answer.verify import Claim, Verdict, Verifier, claims_so_far, is_abstention
from qa.index.passages import Passage
from qa.schemas import UNVERIFIED, Answer, Citation, Delta, SentenceCheck, Turn, Unsupported, Verified, Verify

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

_BOUNDARY = re.compile(r"[.!?\]\u3011\n]")


class LLMFailed(Exception):
    """The LLM server was down, slow, or answered something unusable."""


def describe(err: BaseException) -> str:
    """One line about an LLM failure; never the key or the whole response body."""
    name = type(err).__name__
    status = getattr(err, "status_code", None) or getattr(getattr(err, "response", None), "status_code", None)
    text = " ".join(str(err).split())[:160]
    return f"{name}{f' (HTTP {status})' if status else ''}: {text}" if text else name


def bounded(produce: Callable[[], Iterator[str]], deadline: float) -> Iterator[str]:
    """Pieces from `produce`, run in a worker thread; LLMFailed when the deadline passes first.
    The worker is told to stop and ends with its own HTTP timeout; nobody waits for it."""
    box: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            for piece in produce():
                if stop.is_set():
                    return
                box.put(("piece", piece))
            box.put(("end", None))
        except BaseException as err:  # handed to the waiting thread, which decides what it means
            box.put(("error", err))

    threading.Thread(target=run, name="qa-llm", daemon=True).start()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:  # checked before every piece: a fast flood must not outlast it either
                raise LLMFailed("no complete answer within the timeout")
            try:
                kind, value = box.get(timeout=remaining)
            except queue.Empty:
                raise LLMFailed("no complete answer within the timeout") from None
            if kind == "end":
                return
            if kind == "error":
                raise LLMFailed(describe(value)) from value
            yield value
    finally:
        stop.set()


def _condensed(text: str, limit: int) -> str:
    """The rewritten question, or LLMFailed when the reply is not one plausible question."""
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = (
        re.sub(r"^\s*(standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE)
        .strip()
        .strip("\"'\u201c\u201d")
    )
    if not re.search(r"\w", line) or len(line) > limit:
        raise LLMFailed(f"the rewritten question was unusable ({len(text)} characters)")
    return line


class Writer:
    """The prompts and the LLM: condense a follow-up, or write an answer from numbered passages."""

    def __init__(self, llm: "LLM", prompts: Prompts) -> None:
        self.llm = llm
        self.prompts = prompts

    def _messages(self, user: str):
        from llama_index.core.llms import ChatMessage, MessageRole

        return [
            ChatMessage(role=MessageRole.SYSTEM, content=self.prompts.system()),
            ChatMessage(role=MessageRole.USER, content=user),
        ]

    def _call(self, user: str, *, stream: bool, deadline: float) -> Iterator[str]:
        messages = self._messages(user)

        def produce() -> Iterator[str]:
            if stream:
                for part in self.llm.stream_chat(messages):
                    if part.delta:
                        yield part.delta
            else:
                yield self.llm.chat(messages).message.content or ""

        return bounded(produce, deadline)

    def condense(self, question: str, history: Sequence[Turn], *, deadline: float, limit: int) -> str:
        reply = "".join(self._call(self.prompts.condense(question, history), stream=False, deadline=deadline))
        return _condensed(reply, limit)

    def write(self, question: str, passages: Sequence[Passage], *, stream: bool, deadline: float) -> Iterator[str]:
        shown = [
            PromptPassage(i + 1, p.stored.article.title, p.text, p.stored.article.published)
            for i, p in enumerate(passages)
        ]
        return self._call(self.prompts.answer(question, shown), stream=stream, deadline=deadline)


@dataclass
class Assembly:
    """The verified answer, built sentence by sentence. Citations are numbered in order of first use.
    Verified text is released only once the answer holds a supported sentence, so the pieces always
    join into the final answer: until then it may still fall back to the extractive one."""

    passages: Sequence[Passage]
    verify: Verify
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    abstentions: int = 0
    supported: int = 0
    _released: int = 0
    _ids: dict[tuple[int, int], int] = field(default_factory=dict)

    def _cite(self, verdict: Verdict) -> list[int]:
        ids = []
        for e in verdict.evidence:
            key = (e.passage, e.sentence)
            if key not in self._ids:
                self._ids[key] = len(self.citations) + 1
                self.citations.append(self.passages[e.passage].citation(self._ids[key], e.start, e.end, e.similarity))
            if self._ids[key] not in ids:
                ids.append(self._ids[key])
        return ids

    def add(self, verdict: Verdict) -> SentenceCheck:
        claim = verdict.claim
        self.verdicts.append(verdict)
        if verdict.supported:
            self.supported += 1
            shown = f"{claim.text} " + "".join(f"[{n}]" for n in self._cite(verdict))
        elif is_abstention(claim.text):
            self.abstentions += 1
            shown = claim.text  # "the articles don't say" is not a claim that needs a source
        else:
            self.unsupported.append(Unsupported(text=claim.text, reason=verdict.reason or "unsupported"))
            shown = f"{claim.text} {UNVERIFIED}" if self.verify == "flag" else ""
        if shown:
            self.shown.append(shown)
        return SentenceCheck(text=claim.text, supported=verdict.supported, reason=verdict.reason, shown=shown)

    def release(self) -> list[Verified]:
        """Verified text not yet released, once it is certain to stay in the answer."""
        if not self.supported:
            return []
        out = [Verified(text=("" if i == 0 else " ") + s) for i, s in enumerate(self.shown) if i >= self._released]
        self._released = len(self.shown)
        return out

    @property
    def abstained(self) -> bool:
        return not self.supported and self.abstentions > 0 and not self.unsupported

    @property
    def text(self) -> str:
        return ABSTAIN_TEXT if self.abstained else " ".join(self.shown)


class Generation:
    """Iterating runs it: events while the LLM writes (the draft, each sentence's verdict, verified
    text), then, last, the Answer: the verified one, or the extractive one with a warning when
    nothing the LLM said holds up. A reply longer than `max_chars` (a server ignoring the token
    limit) is cut there. `verdicts`: every generated sentence's verdict, once it has run."""

    def __init__(
        self, writer: Writer, verifier: Verifier, question: str, extractive: Answer, passages: Sequence[Passage], *,
        forced: bool, verify: Verify, stream: bool, deadline: float, max_chars: int,
    ) -> None:  # fmt: skip
        self.writer, self.verifier, self.question, self.extractive = writer, verifier, question, extractive
        self.passages, self.forced, self.verify, self.stream = passages, forced, verify, stream
        self.deadline, self.max_chars = deadline, max_chars
        self.verdicts: tuple[Verdict, ...] = ()

    def __iter__(self) -> Iterator[Delta | SentenceCheck | Verified | Answer]:
        extractive, passages, verify, stream, max_chars = self.extractive, self.passages, self.verify, self.stream, self.max_chars
        generated = {"mode": "generative", "verify": verify}
        if self.forced:  # nothing retrieved is about the question: no model can answer it from these articles
            answer = extractive.model_copy(update={**generated, "answer": ABSTAIN_TEXT, "abstained": True, "citations": []})
            yield Verified(text=answer.answer)
            yield answer
            return
        built = Assembly(passages, verify)
        warnings = list(extractive.warnings)
        text, checked, cut, pending = "", 0, False, False

        def check(claims: list[Claim]) -> Iterator[SentenceCheck | Verified]:
            for verdict in self.verifier.check(claims, passages):
                yield built.add(verdict)
            yield from built.release()

        try:
            for piece in self.writer.write(self.question, passages, stream=stream, deadline=self.deadline):
                if len(text) + len(piece) > max_chars:
                    piece, cut = piece[: max_chars - len(text)], True
                    warnings.append(f"the LLM's answer ran past {max_chars} characters and was cut there")
                text += piece
                if stream and piece:
                    yield Delta(text=piece)
                    # A sentence is complete once the next one starts, after one of these characters
                    # arrived: re-split only then, not on every token.
                    boundary = bool(_BOUNDARY.search(piece))
                    if boundary or pending:
                        ready = claims_so_far(text, final=False)[checked:]
                        checked += len(ready)
                        pending = boundary or not ready
                        yield from check(ready)
                if cut:
                    break
        except LLMFailed as err:
            cut = True
            warnings.append(f"the LLM failed: {err}")
        # after a failure the last sentence may be cut off mid-way, so only whole ones count
        yield from check(claims_so_far(text, final=not cut)[checked:])
        if invalid := sorted({n for v in built.verdicts for n in v.invalid}):
            warnings.append("removed citation markers that point at no passage: " + ", ".join(f"[{n}]" for n in invalid))
        self.verdicts = verdicts = tuple(built.verdicts)
        common = {**generated, "warnings": warnings, "unsupported": built.unsupported}
        if built.supported:
            update = {**common, "answer": built.text, "abstained": False, "citations": built.citations}
            yield extractive.model_copy(update=update)
            return
        if built.abstained:
            answer = extractive.model_copy(update={**common, "answer": ABSTAIN_TEXT, "abstained": True, "citations": []})
        else:
            if not any(w.startswith("the LLM failed") for w in warnings):
                warnings.append(
                    "the LLM failed: it returned no text" if not verdicts
                    else "no sentence of the LLM's answer was supported by the passages it cites"
                )  # fmt: skip
            warnings.append("this is the extractive answer instead")
            answer = extractive.model_copy(update={**common, "mode": "extractive"})
        yield Verified(text=answer.answer)
        yield answer
