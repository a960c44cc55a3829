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

EMBEDDER_DIR = Path(__file__).resolve().parent / "weights" / "embedder"
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


_TRUNCATED_CHARS = 1100  # about MAX_TOKENS word pieces of English
_ATTENTION_BUDGET = 32 * _TRUNCATED_CHARS**2  # batch x chars^2: 32 sentences cut at 256 word pieces (about 100 MB)


def _by_attention_size(texts: list[str]) -> list[list[str]]:
    """Split a batch so that batch x longest^2 stays bounded: attention scores grow with the square of
    the padded length, and 64 sentences of 256 word pieces need about 200 MB per layer for them alone.
    Lengths are in characters (up to where the model cuts), a cheap stand-in for word pieces."""
    parts: list[list[str]] = []
    part: list[str] = []
    longest = 0
    for text in texts:
        n = min(len(text), _TRUNCATED_CHARS)
        longest_with = max(longest, n, 1)
        if part and (len(part) + 1) * longest_with**2 > _ATTENTION_BUDGET:
            parts.append(part)
            part, longest_with = [], max(n, 1)
        part.append(text)
        longest = longest_with
    if part:
        parts.append(part)
    return parts


class OnnxEmbedding(BaseEmbedding):
    """Sentence vectors (mean-pooled, unit length) from one onnxruntime call per batch."""

    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()

    def __init__(self, path: Path = EMBEDDER_DIR, *, batch_size: int = 64, **kwargs: Any) -> None:
        super().__init__(model_name=f"{path.name}/{ONNX_FILE}", embed_batch_size=batch_size, **kwargs)
        from tokenizers import Tokenizer

        from qa.backends import onnx_session, verify_checksum

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

        out: list[list[float]] = []
        for part in _by_attention_size(texts):
            encoded = self._tokenizer.encode_batch(part)
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            }
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
