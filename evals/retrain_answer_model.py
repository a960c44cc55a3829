"""The shipped answer model from the bundled weights, in one seeded command (`make answer-model`).

    python -m evals.retrain_answer_model     # about 10 hours on two CPU cores; run it again to resume

Five steps, each skipped when its output is complete and resumed from its checkpoint when one exists:
1. the first stage: every usable SQuAD 1.1 train question once (to .qa/first-stage);
2. the second stage from its weights: 8,000 questions, 40% padded with a wrong sentence's words, lr 2e-5
   (to .qa/second-stage-model);
3. the third stage from its weights: the candidates the answerer presents for 7,000 questions of 150 other
   training articles indexed together (evals.answer_pools), lr 2e-5 (to qa/weights/answer-model);
4. the int8 ONNX file and the model card (evals.export_answer_model);
5. the abstention classifier and its threshold, with padded questions, 100 training articles beside the
   held-apart ones and room below the bound (evals.fit_abstention --padded 300 --beside 100 --room).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from evals.train_answer_model import CHECKPOINT_DIR, ROOT
from qa.answer.model import MODEL_DIR

FIRST = ROOT / ".qa" / "first-stage"
SECOND_CHECKPOINTS = ROOT / ".qa" / "second-stage"
SECOND = ROOT / ".qa" / "second-stage-model"
SECOND_STAGE = ("--questions", "8000", "--lr", "2e-5", "--padded", "0.4")
POOLS = ROOT / ".qa" / "pools.pkl"
POOL_ARTICLES = 150
THIRD_CHECKPOINTS = ROOT / ".qa" / "third-stage"
# padded questions, training articles beside the held-apart ones, and room below the false-abstention bound
FIT_ARGS = ("--padded", "300", "--beside", "100", "--room")


def record(out) -> dict:
    path = out / "training.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def complete(r: dict) -> bool:
    return bool(r) and r.get("step") == r.get("steps")


def run(*args: str, env: dict[str, str] | None = None) -> None:
    print("$ python -m", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", *args], check=True, cwd=ROOT, env=os.environ | (env or {}))


def main() -> None:
    if not complete(first := record(FIRST)) or "first_stage" in first:
        resume = ["--resume"] if (CHECKPOINT_DIR / "last.pt").is_file() else []
        run("evals.train_answer_model", "--out", str(FIRST), *resume)
        first = record(FIRST)
    second = record(SECOND)
    if not complete(second) or second.get("first_stage", {}).get("weights_sha256") != first["weights_sha256"]:
        run("evals.train_answer_model", "--init", str(FIRST), "--checkpoints", str(SECOND_CHECKPOINTS), "--out", str(SECOND), *SECOND_STAGE)
        second = record(SECOND)
    shipped = record(MODEL_DIR)
    if not complete(shipped) or shipped.get("first_stage", {}).get("weights_sha256") != second["weights_sha256"]:
        if not POOLS.is_file():
            run("evals.answer_pools", "--out", str(POOLS), "--articles", str(POOL_ARTICLES), "--model", str(SECOND),
                env={"QA_DATA_DIR": str(ROOT / ".qa" / "data-pools")})  # fmt: skip
        run("evals.train_answer_model", "--init", str(SECOND), "--checkpoints", str(THIRD_CHECKPOINTS), "--pools", str(POOLS), "--lr", "2e-5")
    run("evals.export_answer_model")
    run("evals.fit_abstention", *FIT_ARGS, env={"QA_DATA_DIR": str(ROOT / ".qa" / "data-fit")})


if __name__ == "__main__":
    main()
