"""Background document frequencies: how common each term is in general English text, so that a term's
weight in a question does not swing with what else happens to be indexed.

With idf counted over the indexed chunks alone, adding eight unrelated articles made "afghanistan"
rarer and "get" commoner, and the sentence quoted first changed. The prior adds the 18,896 SQuAD 1.1
training paragraphs' counts to the index's own (qa/weights/idf, built by `python -m
evals.build_background_idf`), so a few articles more or less barely move any weight.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

from qa.index.cache import code_tag
from qa.models.files import sha256, verify_checksum

IDF_DIR = Path(__file__).resolve().parents[1] / "weights" / "idf"
TABLE = IDF_DIR / "df.tsv.gz"
RECORD = IDF_DIR / "build.json"


@dataclass(frozen=True)
class Background:
    documents: int
    df: dict[str, int]


def terms_tag() -> str:
    """Names the code that turns text into terms: a table counted by other code counts other terms."""
    from qa.text import words

    return code_tag(version("PyStemmer"), Path(words.__file__))


def write(background: Background, record: dict) -> None:
    rows = [f"# documents\t{background.documents}"] + [f"{t}\t{n}" for t, n in sorted(background.df.items())]
    TABLE.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0))
    record = {**record, "documents": background.documents, "terms": len(background.df), "terms_tag": terms_tag(),
              "table_sha256": sha256(TABLE)}  # fmt: skip
    RECORD.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


@cache
def background() -> Background:
    verify_checksum(TABLE, RECORD, "table_sha256")
    lines = gzip.decompress(TABLE.read_bytes()).decode().splitlines()
    documents = int(lines[0].split("\t")[1])
    df = {}
    for line in lines[1:]:
        term, n = line.split("\t")
        df[term] = int(n)
    return Background(documents, df)
