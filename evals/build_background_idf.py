"""Build the background document frequencies (qa/weights/idf) from the training paragraphs.

    python -m evals.build_background_idf [--train ../shared/training/squad-v1.1-train.json]

Counts, for each term (qa.text.terms), the SQuAD 1.1 training paragraphs it occurs in. Rebuild after
any change to how qa.text turns text into terms (tests/test_background_idf.py says when). About 20 s.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from qa.index.background import Background, write
from qa.models.files import sha256
from qa.text import terms

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "training" / "squad-v1.1-train.json"


def count(train: Path) -> Background:
    df: Counter[str] = Counter()
    documents = 0
    for article in json.loads(train.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            documents += 1
            df.update(set(terms(paragraph["context"])))
    return Background(documents, dict(df))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=TRAIN)
    args = parser.parse_args(argv)
    bg = count(args.train)
    write(bg, {"source": "SQuAD 1.1 train paragraphs (CC BY-SA 4.0)", "train_sha256": sha256(args.train)})
    print(f"{bg.documents} paragraphs, {len(bg.df)} terms")


if __name__ == "__main__":
    main()
