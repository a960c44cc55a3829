"""The default embedder: all-MiniLM-L6-v2 as ONNX, run by onnxruntime through LlamaIndex's BaseEmbedding.

Why: torch, transformers and sentence-transformers take about 4 s to import, which every cold command
paid before its first answer; onnxruntime and tokenizers take 0.1 s. The file is built by
`python -m evals.export_embedder`; its vectors equal the torch model's to about 1e-6 (see
qa/weights/embedder/README.md), so an index built by either runtime serves the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

EMBEDDER_DIR = Path(__file__).resolve().parent / "weights" / "embedder"
ONNX_FILE = "model.onnx"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's own limit (sentence-transformers' max_seq_length)


class OnnxEmbedding(BaseEmbedding):
    """Sentence vectors (mean-pooled, unit length) from one onnxruntime call per batch."""

    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()

    def __init__(self, path: Path = EMBEDDER_DIR, *, batch_size: int = 64, threads: int = 0, **kwargs: Any) -> None:
        super().__init__(model_name=f"{path.name}/{ONNX_FILE}", embed_batch_size=batch_size, **kwargs)
        import onnxruntime
        from tokenizers import Tokenizer

        from qa.answer.model import sha256

        recorded = json.loads((path / "export.json").read_text(encoding="utf-8"))["onnx_sha256"]
        if sha256(path / ONNX_FILE) != recorded:
            raise OSError(f"{path / ONNX_FILE} does not match the checksum in export.json")
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: every core
        options.log_severity_level = 3
        self._tokenizer = tokenizer
        self._session = onnxruntime.InferenceSession(str(path / ONNX_FILE), options, providers=["CPUExecutionProvider"])

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        if not texts:
            return []
        encoded = self._tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        }
        return self._session.run(None, feed)[0].tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)
