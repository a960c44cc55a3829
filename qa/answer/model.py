"""The answer model: a small cross-encoder that scores (question, sentence in its context) as the
probability that the sentence answers the question. Trained by `python -m evals.train_answer_model`
on SQuAD 1.1 train only; weights, model card and checksum ship in `qa/weights/answer-model/`."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "answer-model"  # qa/weights, shipped as package data
WEIGHTS_FILE = "model.safetensors"
MAX_LENGTH = 96  # question + sentence + context, in word pieces; the context's tail is cut first
MAX_CONTEXT_CHARS = 300  # the previous sentence's end, which names what the sentence is about


@dataclass(frozen=True)
class Candidate:
    """A sentence as the model sees it: with its article's title and the sentence before it."""

    sentence: str
    title: str = ""
    previous: str = ""


def pair_text(c: Candidate) -> str:
    """The second segment: the sentence first (never truncated away), then its context."""
    context = c.previous[-MAX_CONTEXT_CHARS:]
    title = " ".join(c.title.split())[:200]
    return f"{c.sentence} [SEP] {title}: {context}" if context else f"{c.sentence} [SEP] {title}"


def sentence_candidates(text: str, spans: Sequence[tuple[int, int]], title: str) -> list[Candidate]:
    """The sentences of `text` at `spans`, each with `title` and the sentence before it."""
    return [Candidate(text[s:e], title, text[spans[i - 1][0] : spans[i - 1][1]] if i else "") for i, (s, e) in enumerate(spans)]


def encode(tokenizer, questions: Sequence[str], candidates: Sequence[Candidate]):
    """The model's input, the same in training and answering. longest_first: the context goes first,
    and a very long question is cut rather than refused."""
    return tokenizer(
        list(questions), [pair_text(c) for c in candidates], truncation="longest_first", max_length=MAX_LENGTH,
        padding=True, return_tensors="pt",
    )  # fmt: skip


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class AnswerModel:
    """Loaded once per process from the shipped weights; nothing is downloaded."""

    def __init__(self, path: Path = MODEL_DIR, *, quantize: bool = True) -> None:
        import torch
        from transformers import AutoTokenizer, BertForSequenceClassification
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        self.path = Path(path)
        self.check()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        model = BertForSequenceClassification.from_pretrained(str(self.path), local_files_only=True, dtype=torch.float32)
        model.eval()
        if quantize:  # int8 linear layers: about twice as fast on a CPU, scores within about 0.01
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        self._torch = torch
        self._lock = threading.Lock()  # one forward pass at a time: two cores are shared, not split

    def check(self) -> None:
        """The weights are the ones their training recorded: a truncated or swapped file is refused."""
        from qa.backends import verify_checksum

        verify_checksum(self.path / WEIGHTS_FILE, self.path / "training.json", "weights_sha256")

    def warm_up(self) -> None:
        self.scores("warm up", [Candidate("A first call allocates what later ones reuse.")])

    def logits(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        torch = self._torch
        with self._lock, torch.inference_mode():  # a fast tokenizer is not safe across threads either
            return self.model(**encode(self.tokenizer, [question] * len(candidates), candidates)).logits[:, 0].tolist()

    def scores(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        """P(sentence answers question) for each candidate, in 0..1."""
        return [sigmoid(z) for z in self.logits(question, candidates)]
