"""Public benchmark files (../shared/benchmarks) turned into Articles and questions.

Sampling is seeded, so every run of the same command asks the same questions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import BadInput
from qa.ingest.readers import article_from_fields, slugify
from qa.schemas import Article

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"
VENDORED_DIR = Path(__file__).resolve().parent / "data"  # rgb, for CI, which has no ../shared
FILES = {"squad2": "squad-v2-dev-half.json", "rgb": "rgb-en-fact.jsonl"}


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    answers: list[str]  # acceptable answers; empty means the documents cannot answer
    doc_ids: frozenset[str] = field(default_factory=frozenset)  # where a correct citation may point

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class Benchmark:
    name: str
    articles: list[Article]
    cases: list[Case]


def resolve(name_or_path: str, benchmarks_dir: Path = DEFAULT_DIR) -> tuple[str, Path]:
    if name_or_path in FILES:
        path = benchmarks_dir / FILES[name_or_path]
        vendored = VENDORED_DIR / FILES[name_or_path]
        return name_or_path, path if path.is_file() or not vendored.is_file() else vendored
    path = Path(name_or_path)
    kind = "rgb" if path.suffix == ".jsonl" else "squad2"
    return kind, path


def squad2(path: Path, *, limit: int | None, seed: int = 0, unanswerable: int = 0) -> Benchmark:
    """Every paragraph is an article; `limit` answerable (and `unanswerable`) questions sampled by seed."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles, answerable, impossible = [], [], []
    for entry in data:
        title = entry["title"].replace("_", " ")
        for i, para in enumerate(entry["paragraphs"]):
            doc_id = f"{slugify(entry['title'])}-{i}"
            articles.append(article_from_fields(doc_id=doc_id, title=title, text=para["context"], source=path.name))
            for qa in para["qas"]:
                answers = sorted({a["text"] for a in qa.get("answers", [])})
                case = Case(qa["id"], qa["question"], answers, frozenset([doc_id]))
                (impossible if qa.get("is_impossible") else answerable).append(case)
    rng = random.Random(seed)
    cases = rng.sample(answerable, min(limit or len(answerable), len(answerable)))
    cases += rng.sample(impossible, min(unanswerable, len(impossible)))
    return Benchmark("squad2", articles, cases)


def _flatten(answer: object) -> list[str]:
    if isinstance(answer, list):
        return [s for a in answer for s in _flatten(a)]
    return [str(answer)]


def rgb(path: Path, *, limit: int | None, seed: int = 0) -> Benchmark:
    """Positive and negative snippets of all rows form one news collection."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    articles: dict[str, Article] = {}
    cases = []
    for n, row in enumerate(rows):
        positives = set()
        for kind in ("positive", "negative"):
            for k, snippet in enumerate(row.get(kind, [])):
                try:
                    article = article_from_fields(doc_id=f"rgb{n}-{kind[:3]}{k}", title="", text=snippet, source=path.name)
                except BadInput:
                    continue  # an empty snippet, or one that is only page furniture ("Click here to ...")
                stored = articles.setdefault(article.hash, article)  # snippets repeat across rows
                if kind == "positive":
                    positives.add(stored.id)
        cases.append(Case(f"rgb{n}", row["query"], _flatten(row["answer"]), frozenset(positives)))
    rng = random.Random(seed)
    cases = rng.sample(cases, min(limit or len(cases), len(cases)))
    return Benchmark("rgb", list(articles.values()), cases)


def load(name_or_path: str, *, limit: int | None, seed: int = 0, unanswerable: int = 0) -> Benchmark:
    kind, path = resolve(name_or_path)
    if kind == "rgb":
        return rgb(path, limit=limit, seed=seed)
    return squad2(path, limit=limit, seed=seed, unanswerable=unanswerable)
