"""Does any of the feature ranker's features add to the answer model? Measured, not assumed.

    python -m evals.fit_blend

On the SQuAD 1.1 train articles that training held apart (evals.calibrate builds the same collection;
nothing here is evaluated on), every question's candidates get the model's logit and the ranker's
features. A logistic regression over the logit plus each feature set is fitted on half the articles
and scored on the other half, and the other way round: the share of questions whose first candidate
holds the answer, against the logit alone. The answerer keeps a feature only if this shows a gain.
"""

from __future__ import annotations

import argparse
import json
import math
import random

import numpy as np

from evals.calibrate import held_apart
from evals.metrics import contains_answer
from evals.runner import engine_for
from qa.answer.extractive import rank_score
from qa.answer.model import MODEL_DIR
from qa.config import Settings

SETS = {
    "model": [],
    "+ranker": ["rank"],
    "+cos": ["cos"],
    "+passage": ["passage", "passage_bm25", "top_passage"],
    "+lexical": ["lex", "lex_window", "bigram"],
    "+type": ["offers", "lacks", "year_conflict_sentence"],
    "+all": ["cos", "passage", "passage_bm25", "top_passage", "lex", "lex_window", "bigram", "offers", "lacks",
             "year_conflict_sentence", "consensus"],
}  # fmt: skip


def _fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method, with a bias column."""
    x = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ w))
        g = x.T @ (p - y) + l2 * w
        h = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        w -= np.linalg.solve(h, g)
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    trained = json.loads((MODEL_DIR / "training.json").read_text(encoding="utf-8"))
    bench = held_apart(trained["seed"], len(trained["held_apart_articles"]), limit=args.limit, unanswerable=0,
                       rng=random.Random(args.seed))  # fmt: skip
    engine = engine_for("calib-squad1", bench.articles, Settings())
    snap = engine.library.snapshot()
    rows = []  # (article, question index, features, label)
    for n, case in enumerate(bench.cases):
        hits = engine.retriever(top_k=15, snapshot=snap, exact_top=5).passages(case.question)
        passages, others = hits[:5], hits[5:]
        picks = engine.answerer.score(case.question, passages, snap=snap, others=others)
        for pk in engine.answerer._model_rank(case.question, picks):
            p = min(max(pk.support, 1e-6), 1 - 1e-6)
            feats = {"logit": math.log(p / (1 - p)), "rank": rank_score(pk.features), **pk.features}
            rows.append((next(iter(case.doc_ids)).rsplit("-", 1)[0], n, feats, contains_answer(pk.text, case.answers)))
    articles = sorted({r[0] for r in rows})
    random.Random(0).shuffle(articles)
    halves = [set(articles[::2]), set(articles[1::2])]
    print(f"{len(bench.cases)} questions, {len(rows)} candidates, {len(articles)} articles")
    for name, extra in SETS.items():
        keys = ["logit", *extra]
        right = total = 0
        for train, test in ((halves[0], halves[1]), (halves[1], halves[0])):
            tr = [r for r in rows if r[0] in train]
            w = _fit(np.array([[r[2][k] for k in keys] for r in tr]), np.array([float(r[3]) for r in tr]))
            by_q: dict[int, list] = {}
            for r in rows:
                if r[0] in test:
                    by_q.setdefault(r[1], []).append(r)
            for cands in by_q.values():
                scores = [float(np.dot(w[:-1], [c[2][k] for k in keys])) for c in cands]
                right += cands[int(np.argmax(scores))][3]
                total += 1
        w_all = _fit(np.array([[r[2][k] for k in keys] for r in rows]), np.array([float(r[3]) for r in rows]))
        print(f"{name:10s} first candidate holds the answer: {right / total:.3f} ({right}/{total}); "
              f"weights on all: {dict(zip([*keys, 'bias'], np.round(w_all, 3)))}")  # fmt: skip


if __name__ == "__main__":
    main()
