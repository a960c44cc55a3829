"""Calibrate the answer model's abstention threshold (QA_ANSWER_MODEL_THRESHOLD).

    python -m evals.calibrate                      # the trained model
    python -m evals.calibrate --model linear       # the linear ranker's QA_ANSWER_ABSTAIN_THRESHOLD

Nothing here is evaluated on: the questions come from the SQuAD 1.1 train articles that training held
apart (same seed, same split, never trained on). Every paragraph of those articles is indexed as a
document; the answerable questions are theirs, the unanswerable ones are the same questions altered
so that their answer sentence no longer answers them (the way SQuAD 2.0 writes unanswerable
questions). It sweeps the threshold and picks the highest one whose false abstention stays within
--max-false-abstention.
"""

from __future__ import annotations

import argparse
import json
import random

from evals import benchmarks
from evals.metrics import sweep
from evals.runner import benchmark_items, engine_for, run
from evals.train_answer_model import TRAIN_FILE, _anchors, alter, split
from qa.answer.model import MODEL_DIR
from qa.config import AnswerSettings, Settings
from qa.ingest.fields import article_from_fields, slugify
from qa.text import sentence_spans


def held_apart(seed: int, n_articles: int, *, limit: int, unanswerable: int, rng: random.Random) -> benchmarks.Benchmark:
    _, arts = split(json.loads(TRAIN_FILE.read_text(encoding="utf-8")), seed=seed, held_apart=n_articles)
    articles, answerable, altered = [], [], []
    for art in arts:
        title = art["title"].replace("_", " ")
        pool = _anchors("\n".join(p["context"] for p in art["paragraphs"]))
        for i, para in enumerate(art["paragraphs"]):
            spans = sentence_spans(para["context"])
            doc_id = f"{slugify(art['title'])}-{i}"
            articles.append(article_from_fields(doc_id=doc_id, title=title, text=para["context"], source="squad-v1.1-train"))
            for qa in para["qas"]:
                answers = sorted({a["text"] for a in qa["answers"]})
                answerable.append(benchmarks.Case(qa["id"], qa["question"], answers, frozenset([doc_id])))
                start = qa["answers"][0]["answer_start"]
                sentence = next((para["context"][s:e] for s, e in spans if s <= start < e), "")
                changed = alter(qa["question"], sentence, pool, rng) if sentence else None
                if changed:
                    altered.append(benchmarks.Case(qa["id"] + "-altered", changed, []))
    cases = rng.sample(answerable, min(limit, len(answerable))) + rng.sample(altered, min(unanswerable, len(altered)))
    return benchmarks.Benchmark("squad1-held-apart", articles, cases)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["trained", "linear"], default="trained")
    p.add_argument("--limit", type=int, default=600)
    p.add_argument("--unanswerable", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-false-abstention", type=float, default=0.03)
    args = p.parse_args()
    trained = json.loads((MODEL_DIR / "training.json").read_text(encoding="utf-8"))
    bench = held_apart(trained["seed"], len(trained["held_apart_articles"]), limit=args.limit,
                       unanswerable=args.unanswerable, rng=random.Random(args.seed))  # fmt: skip
    settings = Settings(answer=AnswerSettings(model=args.model, model_threshold=0.0, abstain_threshold=0.0))
    result = run(engine_for("calib-squad1", bench.articles, settings), bench.name, benchmark_items(bench))
    rows = sweep(result.outcomes, [i / 100 for i in range(0, 100)])
    print("threshold  false_abstention  abstention_recall  answer_accuracy")
    for row in rows[::5]:
        print(f"{row['threshold']:9.2f}  {row['false_abstention_rate']:16.3f}  {row['abstention_recall']:17.3f}  "
              f"{row['answer_accuracy']:15.3f}")  # fmt: skip
    ok = [r for r in rows if r["false_abstention_rate"] <= args.max_false_abstention]
    chosen = max(ok, key=lambda r: r["threshold"]) if ok else rows[0]
    print(f"chosen threshold: {chosen['threshold']:.2f} (false abstention {chosen['false_abstention_rate']:.3f}, "
          f"abstention recall {chosen['abstention_recall']:.3f}, answer accuracy {chosen['answer_accuracy']:.3f}; "
          f"{result.metrics.answerable} answerable and {result.metrics.unanswerable} altered questions)")  # fmt: skip


if __name__ == "__main__":
    main()
