"""The ONNX embedder: the torch model's vectors without torch, and a refused file when it is not the one built."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from qa import backends
from qa.config import EmbeddingSettings
from qa.models.embedding import EMBEDDER_DIR, MAX_TOKENS, ONNX_FILE, OnnxEmbedding, _runs
from qa.errors import BackendUnavailable
from qa.text import layout
from tests.support.helpers import CORPUS, damaged_copy


def corpus_sentences() -> list[str]:
    text = (CORPUS / "isis-k-explainer.txt").read_text(encoding="utf-8")
    return [text[s.start : s.end] for s in layout(text, chunk_chars=1000).sentences]


def test_onnx_vectors_equal_the_torch_models(embed_model) -> None:
    texts = corpus_sentences() + ["who leads ISIS-K?", "x", "a " * 400]  # a question, one token, past 256 tokens
    torch_model = backends.embedding_model(EmbeddingSettings(runtime="torch"))
    ours = np.array(embed_model.get_text_embedding_batch(texts))
    ref = np.array(torch_model.get_text_embedding_batch(texts))
    assert isinstance(embed_model, OnnxEmbedding) and ours.shape == ref.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * ref).sum(1).min() > 0.99999
    assert np.allclose(embed_model.get_query_embedding(texts[0]), ours[0], atol=1e-5)  # batch padding changes nothing


def test_a_call_bounds_word_pieces_and_attention() -> None:
    # attention holds batch x length² scores: two full-length texts went together and kept twice the memory
    lengths = [3, 40, 40, 128, 128, 129, 129, 200, 256, 256, 256]
    runs = _runs(lengths)
    assert [i for r in runs for i in r] == list(range(len(lengths)))
    for r in runs:
        longest = max(lengths[i] for i in r)
        assert len(r) == 1 or (len(r) * longest <= 2 * MAX_TOKENS and len(r) * longest**2 <= MAX_TOKENS**2)
    assert [len(r) for r in runs] == [4, 3, 1, 1, 1, 1]  # 200 and 256 alone
    assert _runs([16] * 40) == [range(0, 32), range(32, 40)]  # short texts still share a call


def test_both_runtimes_share_the_index_name() -> None:
    onnx, torch = EmbeddingSettings(), EmbeddingSettings(runtime="torch")
    assert backends.model_label(onnx) == backends.model_label(torch) == "sentence-transformers/all-MiniLM-L6-v2"


def test_onnx_is_only_for_the_bundled_model() -> None:
    with pytest.raises(ValueError, match="QA_EMBEDDING_RUNTIME=torch"):
        EmbeddingSettings(model="some/other-model", runtime="onnx")
    assert EmbeddingSettings(model="some/other-model").runtime == "torch"
    assert EmbeddingSettings().runtime == "onnx"


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="does not match the checksum"):
        OnnxEmbedding(damaged_copy(EMBEDDER_DIR, ONNX_FILE, tmp_path))


def test_a_missing_runtime_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    backends._embedding.cache_clear()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    try:
        with pytest.raises(BackendUnavailable, match="pip install 'onnxruntime'"):
            backends.embedding_model(EmbeddingSettings(batch_size=7))
    finally:
        backends._embedding.cache_clear()


def test_answering_never_imports_torch(tmp_path: Path) -> None:
    """What makes a cold `qa ask` fast: the question path runs without torch, transformers or sentence-transformers."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from qa.config import Settings
        from qa.engine import QAEngine
        engine = QAEngine(Settings(data_dir=Path({str(tmp_path / "data")!r})))
        engine.library.ingest([Path({str(CORPUS)!r})])
        answer = engine.ask("who leads ISIS-K?")
        print(answer.answer)
        print(sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "Shahab al-Muhajir" in out[0]
    assert out[-1] == "[]"
