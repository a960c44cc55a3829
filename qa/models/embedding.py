"""The default embedder: all-MiniLM-L6-v2 as ONNX, run by onnxruntime through LlamaIndex's BaseEmbedding.

Why: torch, transformers and sentence-transformers take about 4 s to import, which every cold command
paid before its first answer; onnxruntime and tokenizers take 0.1 s. The file is built by
`python -m evals.export_embedder`; its vectors equal the torch model's to about 1e-6 (see
qa/weights/embedder/README.md), so an index built by either runtime serves the other.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

EMBEDDER_DIR = Path(__file__).resolve().parents[1] / "weights" / "embedder"
ONNX_FILE = "model.onnx"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's own limit (sentence-transformers' max_seq_length)


@lru_cache(maxsize=1)
def _counting_tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(EMBEDDER_DIR / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(texts: Sequence[str]) -> int:
    """Word pieces in `texts` by the tokenizer we ship (BERT's uncased WordPiece, without [CLS]/[SEP]):
    the `usage` the OpenAI-compatible endpoint reports."""
    if not texts:
        return 0
    return sum(len(e.ids) for e in _counting_tokenizer().encode_batch(list(texts), add_special_tokens=False))


# Word pieces per onnxruntime call, padding included: its arena keeps the peak of any call for good, and
# a call's memory grows with batch x length (hidden states) and batch x length^2 (attention scores).
# 512 embed as fast per sentence as bigger calls; 64 x 256 added over 1 GB. Attention is bounded apart:
# two texts of 256 at once kept 33 MB in the arena, one at a time 16 MB, no slower (issue 21).
_TOKEN_BUDGET = 2 * MAX_TOKENS
_ATTENTION_BUDGET = MAX_TOKENS**2


def _runs(lengths: Sequence[int]) -> list[range]:
    """Consecutive runs of a batch within the token and attention budgets once padded to their longest (a
    text longer than either alone). Lengths in word pieces, as tokenized: characters say little (a made-up or
    foreign word takes a piece per 2-3 of them)."""
    runs: list[range] = []
    start, longest = 0, 0
    for k, n in enumerate(lengths):
        longest = max(longest, n)
        if k > start and ((k - start + 1) * longest > _TOKEN_BUDGET or (k - start + 1) * longest**2 > _ATTENTION_BUDGET):
            runs.append(range(start, k))
            start, longest = k, n
    if start < len(lengths):
        runs.append(range(start, len(lengths)))
    return runs


class OnnxEmbedding(BaseEmbedding):
    """Sentence vectors (mean-pooled, unit length) from one onnxruntime call per batch."""

    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()

    def __init__(self, path: Path = EMBEDDER_DIR, *, batch_size: int = 64, **kwargs: Any) -> None:
        super().__init__(model_name=f"{path.name}/{ONNX_FILE}", embed_batch_size=batch_size, **kwargs)
        from tokenizers import Tokenizer

        from qa.models.files import onnx_session, verify_checksum

        verify_checksum(path / ONNX_FILE, path / "export.json", "onnx_sha256")
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        self._session = onnx_session(path / ONNX_FILE)

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        lengths = mask.sum(axis=1)
        out: list[list[float]] = []
        for run in _runs(lengths.tolist()):
            longest = int(lengths[run.start : run.stop].max())  # padding is at the end: cut to this run's longest
            feed = {name: np.ascontiguousarray(a[run.start : run.stop, :longest])
                    for name, a in (("input_ids", ids), ("attention_mask", mask))}  # fmt: skip
            out += self._session.run(None, feed)[0].tolist()
        return out

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)
