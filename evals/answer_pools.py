"""Training groups as the answerer presents them: for questions of SQuAD 1.1 train articles the model
learnt from (never the held-apart ones the abstention is fitted on), the eight sentences the linear
ranker hands the answer model, from an index of many articles, with the one that answers (or "none").
A stage trained on these (`train_answer_model --pools FILE`) learns to choose among the near misses
retrieval actually brings, not only among those training drew by hand.

    QA_DATA_DIR=.qa/data-pools python -m evals.answer_pools --out .qa/pools.pkl [--articles 150]

(its index of training articles goes to a data directory of its own, not the one answering a reader)

The kinds and their labels are those of evals.fit_abstention: answerable, reworded and padded questions
target their paragraph's sentence that holds the answer (a sentence of another article that happens to
hold the answer text is left out of the group, being neither right nor wrong); questions of paragraphs
left out of the index and altered ones target "none".
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
from collections import Counter
from pathlib import Path

from evals.fit_abstention import ANSWERABLE, collection, ranked_picks
from evals.metrics import contains_answer
from evals.runner import engine_for
from evals.train_answer_model import NONE, Group
from qa.answer.model import MODEL_DIR
from qa.config import AnswerSettings, Settings


def groups(engine, chosen) -> list[Group]:
    snap = engine.library.snapshot()
    answerer = engine.answerer
    with_next = answerer.model.with_next
    out = []
    for kind, case in chosen:
        picks = ranked_picks(engine, snap, case.question)
        pool = answerer.pool(picks) if picks else []
        if len(pool) < 2:
            continue
        cands, target = [], NONE
        for pk in pool:
            holds = bool(case.answers) and contains_answer(pk.text, case.answers)
            if holds and kind in ANSWERABLE:
                if pk.passage.stored.article.id not in case.doc_ids or target != NONE:
                    continue  # the answer text elsewhere: neither right nor wrong
                target = len(cands)
            cands.append(pk.candidate(with_next=with_next))
        out.append(Group(case.question, cands, target, kind))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--articles", type=int, default=150, help="training articles indexed together")
    ap.add_argument("--answerable", type=int, default=3000)
    ap.add_argument("--reworded", type=int, default=1000)
    ap.add_argument("--padded", type=int, default=1000)
    ap.add_argument("--missing", type=int, default=1000)
    ap.add_argument("--altered", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--model", type=Path, default=MODEL_DIR, help="the model whose training split is kept to")
    args = ap.parse_args(argv)
    trained = json.loads((args.model / "training.json").read_text(encoding="utf-8"))
    articles, chosen, _ = collection(trained["seed"], len(trained["held_apart_articles"]), random.Random(args.seed),
                                     answerable=args.answerable, reworded=args.reworded, missing=args.missing, altered=args.altered,
                                     padded=args.padded, padded_seed=args.seed, trained_articles=args.articles)  # fmt: skip
    engine = engine_for(f"pools-squad1-{trained['seed']}-{args.articles}", articles,
                        Settings(answer=AnswerSettings(model="trained", model_path=args.model)))  # fmt: skip
    out = groups(engine, chosen)
    args.out.write_bytes(pickle.dumps(out))
    answered = Counter(g.kind for g in out if g.target != NONE)
    print(f"{len(out)} groups from {len(articles)} paragraphs of {args.articles} training articles: "
          f"{dict(Counter(g.kind for g in out))}; with the answer in the pool: {dict(answered)}")


if __name__ == "__main__":
    main()
