"""The answer model: a small cross-encoder that scores (question, sentence in its context) as the
probability that the sentence answers the question. Trained by `python -m evals.train_answer_model`
on SQuAD 1.1 train only; weights, model card and checksum ship in `qa/weights/answer-model/`."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from qa.answer.abstention import Abstention, sigmoid

MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "answer-model"  # qa/weights, shipped as package data
WEIGHTS_FILE = "model.safetensors"  # float16, for training to continue from
ONNX_FILE = "model.onnx"  # what answers: onnxruntime, no torch
MAX_LENGTH = 112  # question + sentence + context, in word pieces; the context's tail is cut first
MAX_CONTEXT_CHARS = 200  # the previous sentence's end, which names what the sentence is about
MAX_NEXT_CHARS = 120  # the next sentence's start: it may resolve what the sentence leaves open


@dataclass(frozen=True)
class Candidate:
    """A sentence as the model sees it: with its article's title and the sentence before it."""

    sentence: str
    title: str = ""
    previous: str = ""
    next: str = ""


def pair_text(c: Candidate) -> str:
    """The second segment: the sentence first (never truncated away), then its context."""
    context = c.previous[-MAX_CONTEXT_CHARS:]
    title = " ".join(c.title.split())[:200]
    text = f"{c.sentence} [SEP] {title}: {context}" if context else f"{c.sentence} [SEP] {title}"
    return f"{text} [SEP] {c.next[:MAX_NEXT_CHARS]}" if c.next else text


def sentence_candidates(text: str, spans: Sequence[tuple[int, int]], title: str, *, with_next: bool = False) -> list[Candidate]:
    """The sentences of `text` at `spans`, each with `title`, the sentence before it and, with
    `with_next`, the one after it."""
    def at(i: int) -> str:
        return text[spans[i][0] : spans[i][1]] if 0 <= i < len(spans) else ""

    return [Candidate(at(i), title, at(i - 1), at(i + 1) if with_next else "") for i in range(len(spans))]


def encode(tokenizer, questions: Sequence[str], candidates: Sequence[Candidate], *, padded: bool = True):
    """Training's input (a transformers tokenizer), the same as AnswerModel's. longest_first: the
    context goes first, and a very long question is cut rather than refused. Unpadded: lists of ids,
    for a caller that pads parts of a batch itself."""
    return tokenizer(
        list(questions), [pair_text(c) for c in candidates], truncation="longest_first", max_length=MAX_LENGTH,
        **({"padding": True, "return_tensors": "pt"} if padded else {}),
    )  # fmt: skip


class AnswerModel:
    """Loaded once per process from the shipped ONNX file; nothing is downloaded and torch is not imported.
    Its word embeddings are the bundled all-MiniLM-L6-v2's own (training froze them), read from that package."""

    def __init__(self, path: Path = MODEL_DIR) -> None:
        import numpy as np
        from safetensors import safe_open
        from tokenizers import Tokenizer

        from qa.models.files import model_path, onnx_session

        self.path = Path(path)
        self.check()
        record = json.loads((self.path / "training.json").read_text(encoding="utf-8"))
        self.none_logit = float(record.get("none_logit", 0.0))  # the learnt "none of these" choice
        self.with_next = bool(record.get("with_next", False))  # whether the sentence after is part of the input
        self.abstention = Abstention.load(self.path)
        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_LENGTH, strategy="longest_first")
        tokenizer.no_padding()  # one pair per pass (logits_for); a tokenizer.json may pad to a fixed 128
        self._tokenizer = tokenizer
        with safe_open(str(Path(model_path("bundled")) / "model.safetensors"), framework="np") as f:
            self._words = f.get_tensor("embeddings.word_embeddings.weight").astype(np.float32)
        # Pairs are scored one per pass (see logits_for), each pass on one thread, as many passes at once
        # as there are cores: a pass of 60-100 word pieces is too small to split across cores (on two
        # cores, eight pairs took 50 ms with two threads per pass and 24 ms as two single-thread passes).
        self._session = onnx_session(self.path / ONNX_FILE, threads=1)
        self._pool = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="answer-model")
        self._np = np
        self._lock = threading.Lock()  # one question's pairs at a time: the cores are shared, not split

    def check(self) -> None:
        """The weights are the ones their training recorded: a truncated or swapped file is refused."""
        from qa.models.files import verify_checksum

        verify_checksum(self.path / ONNX_FILE, self.path / "training.json", "onnx_sha256")

    def warm_up(self) -> None:
        self.scores("warm up", [Candidate("A first call allocates what later ones reuse.")])

    def logits_for(self, questions: Sequence[str], candidates: Sequence[Candidate]) -> list[float]:
        """One logit per (question, candidate): above `none_logit`, the candidate answers more than nothing does."""
        if not candidates:
            return []
        np = self._np

        def one(e) -> float:
            feed = {
                "inputs_embeds": self._words[np.array([e.ids], dtype=np.int64)],
                "attention_mask": np.array([e.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids], dtype=np.int64),
            }
            return float(self._session.run(None, feed)[0][0])

        # One pass per pair: int8 dynamic quantization scales activations over the whole batch, so a
        # sentence batched beside others scored up to 0.4 logits apart from itself alone, and an
        # unrelated article in the pool could move an answer across the threshold.
        encodings = self._tokenizer.encode_batch([(q, pair_text(c)) for q, c in zip(questions, candidates)])
        with self._lock:
            return list(self._pool.map(one, encodings))

    def logits(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        return self.logits_for([question] * len(candidates), candidates)

    def scores(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        """P(this sentence answers rather than none) for each candidate, in 0..1."""
        return [sigmoid(z - self.none_logit) for z in self.logits(question, candidates)]


WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"  # frozen in training: the bundled model's own, not shipped twice


def save_state(model, out: Path) -> None:
    """Training's weights as shipped: float16, without the word embeddings; and the model's config."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").half().contiguous() for k, v in model.state_dict().items() if k != WORD_EMBEDDINGS}
    save_file(state, str(Path(out) / WEIGHTS_FILE))
    model.config.save_pretrained(str(out))


def load_state(path: Path) -> dict:
    """The shipped weights as float32 tensors, for training to continue from (no word embeddings)."""
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(str(Path(path) / WEIGHTS_FILE)).items()}
