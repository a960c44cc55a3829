"""Fit the sentence scorer (qa.answer.extractive.WEIGHTS, SCALE, BIAS).

The weights rank the sentences of one question's passages: a listwise softmax model, trained so the
sentences holding the answer come first (it beat a per-sentence logistic regression by 2.5 points
at rank 1). SCALE and BIAS then map the best sentence's score to a probability that it holds the
answer (Platt scaling): that is the support the abstention threshold is compared with.

    python -m evals.fit_scorer --questions 1500

It trains on training data only: questions of SQuAD 1.1 train articles (`--articles`, seeded), each
paragraph indexed as an article, as `qa eval --benchmark squad2` indexes its own. Never on a benchmark
(squad2 dev, rgb, the paraphrase sets), and never on the articles the answer model's training held
apart: its abstention is fitted there with this ranker's support as a feature, which must not have
seen them. Paste the printed weights into qa/answer/extractive.py.
"""

from __future__ import annotations

import argparse
import random

import numpy as np

from evals.benchmarks import Case
from evals.metrics import contains_answer
from evals.runner import engine_for
from evals.train_answer_model import shipped_split
from qa.answer.extractive import FEATURES, WEIGHTS
from qa.engine import RANK_DEPTH
from qa.ingest.fields import article_from_fields, slugify


def rows(engine, cases):
    snap = engine.library.snapshot()
    answerer = engine.answerer
    for n, case in enumerate(cases):
        k = engine.settings.retrieval.top_k
        hits = engine.retriever(snapshot=snap, top_k=RANK_DEPTH, exact_top=k).passages(case.question)
        for pick in answerer.features(case.question, hits[:k], snap=snap, others=hits[k:]):
            yield n, [pick.features[k] for k in FEATURES], contains_answer(pick.text, case.answers)


# squad2 gives one paragraph per answer and rarely names a year, so it cannot teach these; they are
# set by reasoning instead: several sources agreeing on a name or date is evidence (RGB's news
# snippets), and a sentence dated to another year than the one asked about is not the answer.
FIXED = {"consensus": 2.0, "year_conflict_sentence": -1.0, "year_conflict_passage": -1.0}


def listwise(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, l2: float = 1e-3, steps: int = 600, lr: float = 0.5) -> np.ndarray:
    """Maximise, per question, the softmax probability mass on the sentences with the answer."""
    index = [i for g in np.unique(groups) if y[i := np.where(groups == g)[0]].any()]
    fixed = np.array([k in FIXED for k in FEATURES])
    w = np.array([FIXED.get(k, 0.0) for k in FEATURES])
    for _ in range(steps):
        s = x @ w
        grad = np.zeros_like(w)
        for i in index:
            e = np.exp(s[i] - s[i].max())
            p = e / e.sum()
            q = p * y[i] / (p * y[i]).sum()
            grad += x[i].T @ (p - q)
        w -= np.where(fixed, 0.0, lr * (grad / len(index) + l2 * w))
    return w


def platt(score: np.ndarray, label: np.ndarray, *, steps: int = 50) -> tuple[float, float]:
    """Logistic fit of label on one score, by Newton's method: support = sigmoid(a * score + b)."""
    x = np.stack([score, np.ones_like(score)], axis=1)
    theta = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ theta)))
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        theta -= np.linalg.solve(hessian, x.T @ (p - label))
    return float(theta[0]), float(theta[1])


def top_hits(groups: np.ndarray, scores: np.ndarray, y: np.ndarray, k: int) -> float:
    """Share of questions whose top-k sentences include one with the answer."""
    hits = []
    for g in np.unique(groups):
        idx = np.where(groups == g)[0]
        best = idx[np.argsort(-scores[idx])[:k]]
        hits.append(bool(y[best].any()))
    return float(np.mean(hits))


def collection(articles: int, questions: int, seed: int):
    """Paragraphs of `articles` SQuAD 1.1 train articles the answer model trained on, and `questions` of
    their questions."""
    pool, _ = shipped_split()
    rng = random.Random(seed)
    docs, cases = [], []
    for art in rng.sample(pool, articles):
        for i, para in enumerate(art["paragraphs"]):
            doc_id = f"{slugify(art['title'])}-{i}"
            docs.append(article_from_fields(doc_id=doc_id, title=art["title"].replace("_", " "), text=para["context"],
                                            source="squad-v1.1-train"))  # fmt: skip
            cases += [Case(qa["id"], qa["question"], sorted({a["text"] for a in qa["answers"]}), frozenset([doc_id]))
                      for qa in para["qas"]]  # fmt: skip
    return docs, rng.sample(cases, min(questions, len(cases)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--questions", type=int, default=1500)
    p.add_argument("--articles", type=int, default=16, help="SQuAD 1.1 train articles indexed (about 50 paragraphs each)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    docs, cases = collection(args.articles, args.questions, args.seed)
    engine = engine_for("fit-scorer", docs)
    data = list(rows(engine, cases))
    groups = np.array([g for g, _, _ in data])
    x = np.array([f for _, f, _ in data], dtype=float)
    y = np.array([lab for _, _, lab in data], dtype=float)
    train = groups % 2 == 0  # fit on half, report on the other half, then refit on all
    w = listwise(x[train], y[train], groups[train])
    test = ~train
    for name, weights in (("fitted", w), ("shipped", np.array([WEIGHTS[k] for k in FEATURES]))):
        print(f"{len(cases)} questions, {len(y)} sentences; {name} weights on the held-out half: "
              f"top-1 {top_hits(groups[test], x[test] @ weights, y[test], 1):.3f}, top-2 {top_hits(groups[test], x[test] @ weights, y[test], 2):.3f}")  # fmt: skip
    w = listwise(x, y, groups)
    scores = x @ w
    best = np.array([i[np.argmax(scores[i])] for g in np.unique(groups) for i in [np.where(groups == g)[0]]])
    a, b = platt(scores[best], y[best])
    print("WEIGHTS = {" + ", ".join(f'"{k}": {v:.3f}' for k, v in zip(FEATURES, w)) + "}")
    print(f"SCALE = {a:.3f}\nBIAS = {b:.3f}")


if __name__ == "__main__":
    main()
