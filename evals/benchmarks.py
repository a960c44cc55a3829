"""Public benchmark files turned into Articles and questions. `squad2` and `rgb` are the copies that
travel with the repository, in evals/data/ (sources and licences in its README).

Sampling is seeded, so every run of the same command asks the same questions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from evals.files import read_text
from qa.errors import BadInput
from qa.ingest.fields import article_from_fields, slugify
from qa.schemas import Article

VENDORED_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_DIR = VENDORED_DIR  # the one place `squad2` and `rgb` are read from, whatever the working directory
FILES = {"squad2": "squad-v2-dev-half.json", "rgb": "rgb-en-fact.jsonl"}


class BenchmarkFileError(BadInput, FileNotFoundError):
    """A benchmark file that is not there, cannot be read or is not in its format: one line for the user
    (and still a FileNotFoundError for scripts that skip a benchmark they do not have)."""


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
    file: Path | None = None
    available: tuple[int, int] = (0, 0)  # answerable and unanswerable questions in the file, before sampling


def resolve(name_or_path: str, benchmarks_dir: Path | None = None) -> tuple[str, Path]:
    """(kind, file): a name is read from `benchmarks_dir` (default: the vendored copies); a path's kind
    follows its suffix."""
    if name_or_path in FILES:
        return name_or_path, (benchmarks_dir or DEFAULT_DIR) / FILES[name_or_path]
    path = Path(name_or_path)
    kind = "rgb" if path.suffix == ".jsonl" else "squad2"
    return kind, path


def _read(path: Path) -> str:
    return read_text(path, "benchmark file", BenchmarkFileError)


def squad2(path: Path, *, limit: int | None, seed: int = 0, unanswerable: int = 0) -> Benchmark:
    """Every paragraph is an article; `limit` answerable (and `unanswerable`) questions sampled by seed."""
    try:
        data = json.loads(_read(path))["data"]
        return _squad2(path, data, limit=limit, seed=seed, unanswerable=unanswerable)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise BenchmarkFileError(f"benchmark file {path} is not in SQuAD 2.0's JSON format ({type(err).__name__}: {err})") from None


def _squad2(path: Path, data: list, *, limit: int | None, seed: int, unanswerable: int) -> Benchmark:
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
    return Benchmark("squad2", articles, cases, path, (len(answerable), len(impossible)))


def _flatten(answer: object) -> list[str]:
    if isinstance(answer, list):
        return [s for a in answer for s in _flatten(a)]
    return [str(answer)]


def rgb(path: Path, *, limit: int | None, seed: int = 0) -> Benchmark:
    """Positive and negative snippets of all rows form one news collection."""
    text = _read(path)
    try:
        return _rgb(path, [json.loads(line) for line in text.splitlines() if line.strip()], limit=limit, seed=seed)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise BenchmarkFileError(f"benchmark file {path} is not in RGB's JSON-lines format ({type(err).__name__}: {err})") from None


def _rgb(path: Path, rows: list, *, limit: int | None, seed: int) -> Benchmark:
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
    available = len(cases)
    cases = rng.sample(cases, min(limit or len(cases), len(cases)))
    return Benchmark("rgb", list(articles.values()), cases, path, (available, 0))


def load(
    name_or_path: str, *, limit: int | None, seed: int = 0, unanswerable: int = 0, benchmarks_dir: Path | None = None
) -> Benchmark:  # fmt: skip
    kind, path = resolve(name_or_path, benchmarks_dir)
    if kind == "rgb":
        return rgb(path, limit=limit, seed=seed)
    return squad2(path, limit=limit, seed=seed, unanswerable=unanswerable)
