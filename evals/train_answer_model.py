"""Train the answer model (qa/answer/model.py) from the bundled all-MiniLM-L6-v2 weights on SQuAD 1.1 train.

    python -m evals.train_answer_model                 # seeded; one epoch over every usable question, hours on two cores
    python -m evals.train_answer_model --resume        # continue from the last checkpoint (or the shipped weights)
    python -m evals.train_answer_model --export        # write the last checkpoint to qa/weights/answer-model now
    python -m evals.train_answer_model --init .qa/first-stage --checkpoints .qa/second-stage \
        --questions 8000 --lr 2e-5 --padded 0.4        # a second stage, from a first stage's weights (shipped)
    python -m evals.retrain_answer_model               # both stages, export and abstention fit: the shipped model

Only `../shared/training/` is read: never the benchmarks, the gold suite, or anything evaluated on.
Articles are split before anything else: a held-apart set of them scores the model as it trains (and
later calibrates abstention) and never trains it. Every usable question gives two groups of candidates,
scored together with an explicit "none of these" choice (a learnt logit):
- an answerable group: the sentence holding the answer (with its title and the sentence before it)
  first, then three that do not hold it: the sentence of its article sharing most words with the
  question (of the closest three), another of its paragraph, one of another paragraph or article;
  the question's own words are sometimes swapped for WordNet synonyms (more often the more words it
  shares with its sentence: users word questions their own way);
- a group whose answer is "none": the closest sentences of a paragraph without the answer (another
  article's closest paragraph by BM25, or another paragraph of its own article), or the question altered
  the way SQuAD 2.0 writes unanswerable ones (a name, number or year swapped, a negation inserted, a
  word replaced by its antonym) against the sentence that answered it and its hardest neighbour.
Loss: cross-entropy over each group's candidates plus "none", and binary cross-entropy of each
candidate against "none". Half the candidates also carry the sentence after them, so validation can
measure whether it helps. A second stage (`--init`) continues from a first stage's weights with a
schedule of its own; `--padded` pads that share of its questions with words of their hardest wrong
candidate, as users pad a question with what they half remember of the article.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import random
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from qa.answer.model import MODEL_DIR, WEIGHTS_FILE, Candidate, encode, load_state, sentence_candidates
from qa.models.files import sha256
from qa.text import STOPWORDS, is_question, sentence_spans, terms

ROOT = Path(__file__).resolve().parent.parent
TRAIN_FILE = ROOT.parent / "shared" / "training" / "squad-v1.1-train.json"
TRAIN_SHA256 = "b22daea4353c3287f71cca494ab774900e251df0684b618777d2b2898112a703"
CHECKPOINT_DIR = ROOT / ".qa" / "train-answer-model"  # ignored by git
NONE = -1  # a group's target when none of its candidates answers
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of|de|the|and|von|van|al|bin)?\s*[A-Z][\w'-]*)*")
_WH = frozenset("What Which Who Whom Whose When Where Why How In On At By For From To The A An Is Are Was Were Did Do Does".split())
_AUX = re.compile(r"\b(is|was|are|were|did|does|do|can|could|has|had|have|will|would|should|must)\b(?! not\b)")


@dataclass
class Group:
    question: str
    candidates: list[Candidate]
    target: int  # the index of the answering candidate, or NONE
    kind: str  # answer, passage, altered


def _norm(s: str) -> str:
    return " ".join(re.findall(r"\w+", s.lower()))


def _holds(sentence: str, answer: str) -> bool:
    return f" {_norm(answer)} " in f" {_norm(sentence)} "


def _anchors(text: str) -> dict[str, set[str]]:
    """Years, numbers and capitalised names in `text`, by kind."""
    years = set(_YEAR.findall(text))
    numbers = set(_NUMBER.findall(text)) - years
    names = {m.group().strip() for m in _NAME.finditer(text)}
    names = {n for n in names if n.split()[0] not in _WH or len(n.split()) > 1}
    names = {" ".join(w for w in n.split() if w not in _WH) for n in names} - {""}
    lower = set(re.findall(r"\b[a-z][\w'-]*", text))
    names = {n for n in names if " " in n or n.lower() not in lower}  # "After" opens a sentence; it names nothing
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


def negate(question: str) -> str | None:
    """'Who was the first ...' -> 'Who was not the first ...': SQuAD 2.0's inserted negation."""
    m = _AUX.search(question, 1)
    if not m or " not " in f" {question.lower()} " or "n't" in question:
        return None
    return f"{question[: m.end()]} not{question[m.end():]}"


def _bases(word: str) -> list[tuple[str, str]]:
    """(base, suffix) readings of a word: 'largest' -> ('large', 'st'), ('larg', 'est'), ..."""
    out = [(word, "")]
    for suffix in ("est", "er"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: -len(suffix)]
            out += [(stem, suffix), (stem + "e", suffix[1:])]
            if len(stem) > 2 and stem[-1] == stem[-2]:
                out.append((stem[:-1], suffix))
    return out


def antonym(question: str, sentence: str, wn, rng: random.Random) -> str | None:
    """A word the question shares with its sentence replaced by its antonym ('largest' -> 'smallest')."""
    shared = set(terms(sentence))
    options = []
    for m in re.finditer(r"\b[a-z]+\b", question):
        w = m.group()
        if w in STOPWORDS or not set(terms(w)) & shared:
            continue
        for base, suffix in _bases(w):
            ants = wn.antonyms.get(base)
            if ants:
                a = ants[0]
                options.append((m.start(), m.end(), (a[:-1] if a.endswith("e") and suffix.startswith("e") else a) + suffix))
                break
    if not options:
        return None
    s, e, new = rng.choice(options)
    return question[:s] + new + question[e:]


def synonyms(question: str, sentence: str, wn, rng: random.Random, *, most: int = 2) -> str:
    """Up to `most` lower-case words the question shares with its answer sentence replaced by a
    WordNet synonym of their most frequent sense (never names, numbers or wh-words)."""
    shared = set(terms(sentence))
    spots = [m for m in re.finditer(r"(?<![\w-])[a-z]{4,}(?![\w-])", question)
             if m.group() not in STOPWORDS and set(terms(m.group())) & shared and wn.synonyms.get(m.group())]  # fmt: skip
    for m in sorted(rng.sample(spots, min(most, len(spots))), key=lambda m: -m.start()):
        question = question[: m.start()] + rng.choice(wn.synonyms[m.group()][:2]) + question[m.end() :]
    return question


def distract(question: str, sentence: str, rng: random.Random) -> str:
    """The question with one to three words of `sentence` (a sentence that does not answer it) added, at
    its end or after one of its words: users pad a question with what they half remember of the
    article ("... the Rhine's warmer, green waters flow?"), and the answer must not follow the padding."""
    words = re.findall(r"[\w'-]+", sentence)
    asked = set(terms(question))
    starts = [i for i, w in enumerate(words) if w.lower() not in STOPWORDS and terms(w) and not set(terms(w)) & asked]
    if not starts:
        return question
    i = rng.choice(starts)
    span = words[i : i + rng.randint(1, 3)]
    while span[-1].lower() in STOPWORDS:
        span.pop()
    span = " ".join(span)
    joiner = rng.choice(("", "in ", "of ", "with ", "that "))
    stem = question.rstrip().rstrip("?").rstrip()
    spots = [m.end() for m in re.finditer(r"[\w'-]+", stem)][2:-1]
    if not spots or rng.random() < 0.5:
        return f"{stem} {joiner}{span}?"
    at = rng.choice(spots)
    return f"{stem[:at]} {span}{stem[at:]}?"


def overlap(question: str, sentence: str) -> float:
    asked = set(terms(question))
    return len(asked & set(terms(sentence))) / len(asked) if asked else 0.0


class Paragraphs:
    """BM25 over every training paragraph, to find the closest paragraph of another article."""

    def __init__(self, texts: list[str], owners: list[int]) -> None:
        import numpy as np
        from scipy import sparse

        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = []
        for i, t in enumerate(texts):
            counts = Counter(terms(t))
            lengths.append(sum(counts.values()))
            for term, n in counts.items():
                rows.append(i), cols.append(vocab.setdefault(term, len(vocab))), vals.append(n)
        tf = sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(vocab)), dtype=np.float32)
        df = np.bincount(cols, minlength=len(vocab))
        idf = np.log(1 + (len(texts) - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.array(lengths, dtype=np.float32)
        norm = 1.2 * (0.25 + 0.75 * lengths / lengths.mean())
        tf = tf.tocoo()
        weights = tf.data * 2.2 / (tf.data + norm[tf.row]) * idf[tf.col]
        self.matrix = sparse.csr_matrix((weights, (tf.row, tf.col)), shape=tf.shape).T.tocsr()
        self.vocab, self.owners, self.np, self.sparse = vocab, np.array(owners), np, sparse

    def closest_other(self, questions: list[str], owners: list[int]) -> list[int]:
        np = self.np
        out = []
        for at in range(0, len(questions), 1000):
            rows, cols = [], []
            for i, q in enumerate(questions[at : at + 1000]):
                for t in set(terms(q)):
                    if t in self.vocab:
                        rows.append(i), cols.append(self.vocab[t])
            q = self.sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                       shape=(len(questions[at : at + 1000]), len(self.vocab)))  # fmt: skip
            scores = (q @ self.matrix).toarray()
            scores[self.owners[None, :] == np.array(owners[at : at + 1000])[:, None]] = -1.0
            out.extend(scores.argmax(axis=1).tolist())
        return out


def _context(c: Candidate, rng: random.Random) -> Candidate:
    """Half the candidates carry the sentence after them: validation then measures both inputs."""
    return c if rng.random() < 0.5 else replace(c, next="")


def build(articles: list[dict], rng: random.Random, *, wn=None, limit: int | None = None, padded: float = 0.0
          ) -> list[tuple[Group, Group]]:  # fmt: skip
    """(answerable group, "none" group) per usable question: its answer is inside one sentence, and no
    other sentence of the paragraph holds the answer text. `padded`: the share of answerable groups whose
    question carries words of their hardest wrong candidate (`distract`)."""
    paras, owners, sents_of = [], [], []
    for ai, art in enumerate(articles):
        title = art["title"].replace("_", " ")
        for p in art["paragraphs"]:
            paras.append(p)
            owners.append(ai)
            sents_of.append(sentence_candidates(p["context"], sentence_spans(p["context"]), title, with_next=True))
    todo = []  # (paragraph index, qa, answer sentence index)
    for pi, (p, sents) in enumerate(zip(paras, sents_of)):
        spans = sentence_spans(p["context"])
        for qa in p["qas"]:
            ans = qa["answers"][0]
            start, text = ans["answer_start"], ans["text"]
            hit = [i for i, (s, e) in enumerate(spans) if s <= start and start + len(text) <= e]
            holders = [i for i, c in enumerate(sents) if _norm(text) and _holds(c.sentence, text)]
            if len(hit) == 1 and holders == hit and not is_question(sents[hit[0]].sentence):
                todo.append((pi, qa, hit[0]))
    bm25 = Paragraphs([p["context"] for p in paras], owners)
    closest = bm25.closest_other([qa["question"] for _, qa, _ in todo], [owners[pi] for pi, _, _ in todo])
    by_article: dict[int, list[int]] = {}
    for pi, ai in enumerate(owners):
        by_article.setdefault(ai, []).append(pi)
    pools = {ai: _anchors("\n".join(p["context"] for p in art["paragraphs"])) for ai, art in enumerate(articles)}
    sets = [[set(terms(c.sentence)) for c in sents] for sents in sents_of]

    def hardest(question: str, pis: list[int], answer: str, skip: Candidate | None, n: int) -> list[Candidate]:
        asked = set(terms(question))
        scored = [(-len(asked & sets[pi][i]), pi, i) for pi in pis for i, c in enumerate(sents_of[pi])
                  if c is not skip and not is_question(c.sentence) and not _holds(c.sentence, answer)]  # fmt: skip
        return [sents_of[pi][i] for _, pi, i in sorted(scored)[:n]]

    out = []
    for (pi, qa, a), other_pi in zip(todo, closest):
        text = qa["answers"][0]["text"]
        sents = sents_of[pi]
        pos = sents[a]
        ai = owners[pi]
        near = hardest(qa["question"], by_article[ai], text, pos, 3)
        if not near:
            continue
        negs = [rng.choice(near)]
        same = [c for i, c in enumerate(sents) if i != a and not is_question(c.sentence) and c not in negs and not _holds(c.sentence, text)]
        negs += rng.sample(same, min(1, len(same)))
        elsewhere = [q for q in by_article[ai] if q != pi] if rng.random() >= 0.25 else [other_pi]
        pick = rng.choice(elsewhere) if elsewhere else other_pi
        negs += [c for c in rng.sample(sents_of[pick], min(2, len(sents_of[pick]))) if not _holds(c.sentence, text) and c not in negs]
        negs = negs[:3]
        if len(negs) < 3:
            continue
        question = qa["question"]
        if wn is not None and rng.random() < 0.15 + 0.5 * overlap(question, pos.sentence):
            question = synonyms(question, pos.sentence, wn, rng)
        if padded and rng.random() < padded:  # never drawn at 0: the first stage's data stays as it was
            question = distract(question, negs[0].sentence, rng)
        cands = [pos, *negs]
        order = list(range(4))
        rng.shuffle(order)
        answer = Group(question, [_context(cands[i], rng) for i in order], order.index(0), "answer")
        # the "none" group
        altered = []
        if (changed := alter(qa["question"], pos.sentence, pools[ai], rng)) is not None:
            altered.append(changed)
        if (changed := negate(qa["question"])) is not None:
            altered.append(changed)
        if wn is not None and (changed := antonym(qa["question"], pos.sentence, wn, rng)) is not None:
            altered.append(changed)
        roll = rng.random()
        if altered and roll < 0.45:
            none = Group(rng.choice(altered), [_context(pos, rng), _context(negs[0], rng)], NONE, "altered")
        else:
            where = [other_pi] if roll < 0.75 or len(by_article[ai]) == 1 else [q for q in by_article[ai] if q != pi]
            cands = hardest(qa["question"], [rng.choice(where)], text, None, 2)
            if not cands:
                continue
            none = Group(qa["question"], [_context(c, rng) for c in cands], NONE, "passage")
        out.append((answer, none))
    rng.shuffle(out)
    return out[:limit] if limit else out


def split(data: dict, *, seed: int, held_apart: int) -> tuple[list[dict], list[dict]]:
    arts = sorted(data["data"], key=lambda a: a["title"])
    random.Random(seed).shuffle(arts)
    return arts[held_apart:], arts[:held_apart]


def shipped_split(model: Path = MODEL_DIR) -> tuple[list[dict], list[dict]]:
    """The SQuAD 1.1 train articles `model` trained on and those its training held apart, as its
    training.json records them: what a fit may use, and where it must not look."""
    trained = json.loads((model / "training.json").read_text(encoding="utf-8"))
    return split(json.loads(TRAIN_FILE.read_text(encoding="utf-8")), seed=trained["seed"],
                 held_apart=len(trained["held_apart_articles"]))  # fmt: skip


def batches(pairs: list[tuple[Group, Group]], size: int, rng: random.Random) -> list[list[Group]]:
    """Batches of `size` questions of similar length (less padding), in a seeded random order."""
    def length(pair: tuple[Group, Group]) -> int:
        return max(len(g.question) + len(c.sentence) + len(c.previous) + len(c.next) for g in pair for c in g.candidates)

    out = []
    window = size * 50
    for at in range(0, len(pairs), window):
        chunk = sorted(pairs[at : at + window], key=length)
        out += [[g for pair in chunk[i : i + size] for g in pair] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def forward(model, tok, groups: list[Group], device: str, *, autocast: bool, part: int = 16):
    """Every candidate of every group: one logit each. Pairs are run in parts of similar length, each
    padded only to its own longest (a batch padded to its longest pair wastes about a third)."""
    import torch

    qs = [g.question for g in groups for _ in g.candidates]
    cands = [c for g in groups for c in g.candidates]
    enc = encode(tok, qs, cands, padded=False)
    order = sorted(range(len(qs)), key=lambda i: len(enc["input_ids"][i]))
    out = []
    for at in range(0, len(order), part):
        idx = order[at : at + part]
        padded = tok.pad({k: [enc[k][i] for i in idx] for k in enc}, return_tensors="pt")
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
            out.append(model(**{k: v.to(device) for k, v in padded.items()}).logits[:, 0].float())
    z = torch.cat(out)
    return z[torch.argsort(torch.tensor(order, device=z.device))]


def loss_of(z, none, groups: list[Group]):
    import torch
    import torch.nn.functional as F

    total, at = 0.0, 0
    for g in groups:
        n = len(g.candidates)
        zi = z[at : at + n]
        at += n
        target = n if g.target == NONE else g.target
        listwise = F.cross_entropy(torch.cat([zi, none.view(1)]).view(1, -1), torch.tensor([target], device=z.device))
        labels = torch.zeros(n, device=z.device)
        if g.target != NONE:
            labels[g.target] = 1.0
        pointwise = F.binary_cross_entropy_with_logits(zi - none, labels)
        total = total + listwise + 0.5 * pointwise
    return total / len(groups)


def evaluate(model, tok, none: float, pairs: list[tuple[Group, Group]], device: str, *, autocast: bool) -> dict[str, float]:
    """Held-apart: the answer ranked first and above "none"; "none" chosen where nothing answers;
    each with and without the sentence after (`next`)."""
    import torch

    model.eval()
    out = {}
    with torch.inference_mode():
        for label, with_next in (("", False), ("_next", True)):
            right = top1 = none_ok = alt_ok = n_alt = 0
            for at in range(0, len(pairs), 8):
                groups = []
                for a, n in pairs[at : at + 8]:
                    for g in (a, n):
                        groups.append(replace(g, candidates=[c if with_next else replace(c, next="") for c in g.candidates]))
                z = forward(model, tok, groups, device, autocast=autocast).tolist()
                k = 0
                for g in groups:
                    zi = z[k : k + len(g.candidates)]
                    k += len(g.candidates)
                    best = max(range(len(zi)), key=zi.__getitem__)
                    if g.target != NONE:
                        top1 += best == g.target
                        right += best == g.target and zi[best] > none
                    else:
                        none_ok += zi[best] <= none
                        if g.kind == "altered":
                            n_alt += 1
                            alt_ok += zi[best] <= none
            n = max(1, len(pairs))
            out |= {f"top1{label}": round(top1 / n, 4), f"answered_right{label}": round(right / n, 4),
                    f"none_right{label}": round(none_ok / n, 4), f"altered_none{label}": round(alt_ok / max(1, n_alt), 4)}  # fmt: skip
    model.train()
    return out


def _bf16_supported() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=TRAIN_FILE)
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINT_DIR)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--questions", type=int, default=0, help="training questions; 0: every usable one")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=8, help="questions per step (two groups each)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--held-apart", type=int, default=40, help="articles kept for validation and calibration")
    ap.add_argument("--validation", type=int, default=300, help="held-apart questions scored at each checkpoint")
    ap.add_argument("--validate-first", action="store_true", help="score the untrained model first")
    ap.add_argument("--checkpoint-minutes", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU exists")
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto", help="bfloat16 autocast (auto: where the hardware has it)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint, or else from the shipped weights")
    ap.add_argument("--padded", type=float, default=0.0, help="share of questions padded with a wrong sentence's words")
    ap.add_argument("--init", type=Path, default=None,
                    help="a second stage: start from the weights in this directory (a trained model's) with a schedule of its own")
    ap.add_argument("--pools", type=Path, nargs="+", default=None,
                    help="train on these groups, one or more files (evals.answer_pools: the candidates the answerer presents) instead of drawn ones")
    ap.add_argument("--replay", type=Path, default=None,
                    help="with --pools: also half as many drawn pairs from this cached training data (data-*.pkl), in the same order")
    ap.add_argument("--export", action="store_true", help="write the last checkpoint to --out and stop")
    ap.add_argument("--max-steps", type=int, default=0, help="stop (with a checkpoint) after this many steps in this run")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

    from evals.wordnet import wordnet
    from qa.models.files import model_path

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    autocast = args.bf16 == "on" or (args.bf16 == "auto" and (args.device.startswith("cuda") or _bf16_supported()))
    digest = sha256(args.data)
    if args.data == TRAIN_FILE and digest != TRAIN_SHA256:
        raise SystemExit(f"{args.data}: checksum {digest} is not the documented one")
    wn = wordnet()
    args.checkpoints.mkdir(parents=True, exist_ok=True)
    padded = f"-p{args.padded:g}" if args.padded else ""  # the first stage's name as it was
    cache = args.checkpoints / f"data-{args.seed}-{args.held_apart}-{args.questions}-{digest[:12]}-{int(wn.available)}{padded}.pkl"
    data = json.loads(args.data.read_text(encoding="utf-8"))
    train_arts, val_arts = split(data, seed=args.seed, held_apart=args.held_apart)
    if args.pools is not None:  # validation as every stage's: drawn from the held-apart articles
        val = build(val_arts, random.Random(args.seed + 1), wn=None, limit=args.validation)
        pooled = [g for path in args.pools for g in pickle.loads(path.read_bytes())]
        random.Random(args.seed).shuffle(pooled)
        pooled = pooled[: 2 * args.questions] if args.questions else pooled
        train = list(zip(pooled[::2], pooled[1::2]))  # batches take pairs of groups
        if args.replay is not None:  # drawn groups beside them, so the earlier stages' calibration is not forgotten
            train += pickle.loads(args.replay.read_bytes())[0][: len(train) // 2]
    elif cache.is_file():
        train, val = pickle.loads(cache.read_bytes())
    else:
        t0 = time.time()
        train = build(train_arts, random.Random(args.seed), wn=wn if wn.available else None, limit=args.questions or None,
                      padded=args.padded)  # fmt: skip
        val = build(val_arts, random.Random(args.seed + 1), wn=None, limit=args.validation)
        cache.write_bytes(pickle.dumps((train, val)))
        print(f"built the training groups in {time.time() - t0:.0f} s", flush=True)
    kinds = Counter(n.kind for _, n in train)
    print(f"train: {len(train)} questions from {len(train_arts)} articles (none groups: {dict(kinds)}); "
          f"validation: {len(val)} questions from {len(val_arts)} held-apart articles; WordNet: {wn.available}; "
          f"bf16: {autocast}", flush=True)  # fmt: skip
    order = [b for e in range(math.ceil(args.epochs)) for b in batches(train, args.batch, random.Random(args.seed + 100 + e))]
    steps = int(len(order) * args.epochs / math.ceil(args.epochs))

    base = model_path("bundled")
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=1, local_files_only=True)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # keep the vocabulary as the embedder learnt it
    none = torch.nn.Parameter(torch.zeros(()))
    model.to(args.device)
    none.data = none.data.to(args.device)
    params = [p for p in model.parameters() if p.requires_grad] + [none]
    # "none" is one number that must travel several units: at the encoder's rate it could move 0.4 in a whole epoch
    opt = torch.optim.AdamW([{"params": params[:-1]}, {"params": [none], "lr": args.lr * 200, "weight_decay": 0.0}],
                            lr=args.lr, weight_decay=0.01)  # fmt: skip
    sched = get_linear_schedule_with_warmup(opt, int(0.05 * steps), steps)
    ckpt = args.checkpoints / "last.pt"
    step, log, spent = 0, [], 0.0
    first_stage = None
    if args.init is not None:  # its record goes into this stage's, which starts at step 0
        first_stage = json.loads((args.init / "training.json").read_text(encoding="utf-8"))
        first_stage = {k: v for k, v in first_stage.items() if k not in ("held_apart_articles", "onnx", "onnx_sha256")}
        if first_stage.get("seed") != args.seed:
            raise SystemExit(f"{args.init} was trained with seed {first_stage.get('seed')}: its held-apart articles are not this run's")
    if args.resume or args.export or first_stage is not None:
        if ckpt.is_file():
            state = torch.load(ckpt, map_location=args.device, weights_only=False)
            model.load_state_dict(state["model"])
            none.data.fill_(state["none"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            step, log, spent = state["step"], state["log"], state["minutes"]
            torch.set_rng_state(state["torch_rng"])
            print(f"resumed from {ckpt} at step {step}/{steps}", flush=True)
        elif first_stage is not None:  # a second stage's first step: the first stage's weights
            model.load_state_dict(load_state(args.init), strict=False)
            none.data.fill_(first_stage["none_logit"])
        else:  # the checkpoint is lost: continue from the shipped weights, at the step they record (fresh optimizer moments)
            committed = args.out
            record = json.loads((committed / "training.json").read_text(encoding="utf-8"))
            if record.get("seed") != args.seed or record.get("layers") != 6 or "step" not in record or "first_stage" in record:
                raise SystemExit("no checkpoint, and the shipped weights are not from this run: train from the start")
            model.load_state_dict(load_state(committed), strict=False)
            none.data.fill_(record["none_logit"])
            step, log, spent = record["step"], record["validation"], record["minutes"]
            for _ in range(step):
                sched.step()
            print(f"no checkpoint: resumed from the shipped weights at step {step}/{steps} (fresh optimizer moments)", flush=True)
    if args.export:
        export(model, tok, float(none), args, digest, val_arts, step, steps, log, spent, autocast, first_stage)
        return

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "none": float(none), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "step": step, "log": log, "minutes": spent + (time.time() - started) / 60,
                    "torch_rng": torch.get_rng_state()}, tmp)  # fmt: skip
        os.replace(tmp, ckpt)  # a kill mid-write leaves the previous checkpoint whole

    stop = threading.Event()  # SIGTERM or SIGINT: checkpoint after the step in hand, then end (resume with --resume)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    model.train()
    started = last_ckpt = time.time()
    first = step
    if step == 0 and args.validate_first:
        score = evaluate(model, tok, float(none), val, args.device, autocast=autocast)
        print(f"before training: {score}", flush=True)
    while step < steps:
        groups = order[step]
        z = forward(model, tok, groups, args.device, autocast=autocast)
        loss = loss_of(z, none, groups)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        step += 1
        if step % 50 == 0:
            el = time.time() - started
            print(f"step {step}/{steps} loss {loss.item():.3f} none {float(none):.2f} {el / 60:.1f} min, "
                  f"eta {el / (step - first) * (steps - step) / 60:.0f} min", flush=True)  # fmt: skip
        if stop.is_set():
            save()
            print(f"stopped at step {step}: checkpoint saved; --resume continues", flush=True)
            return
        if time.time() - last_ckpt > args.checkpoint_minutes * 60 or step == steps or step - first == args.max_steps:
            score = evaluate(model, tok, float(none), val, args.device, autocast=autocast)
            log.append({"step": step, **score})
            print(f"validation at step {step}: {score}", flush=True)
            save()
            last_ckpt = time.time()
            if step - first == args.max_steps:
                break
    spent += (time.time() - started) / 60
    if step == steps:
        export(model, tok, float(none), args, digest, val_arts, step, steps, log, spent, autocast, first_stage)


def _next_helps(score: dict) -> bool:
    """The sentence after joins the input only if held-apart answers and abstentions gain more than noise
    from it (0.03: two standard errors of one rate on 300 questions): it costs a fifth more word pieces
    on every question. At 0.01, epoch 2 took it for a gain of 0.010 and lost 1 gold answer and 2
    abstentions with it."""
    right = score.get("answered_right", 0) + score.get("none_right", 0)
    return score.get("answered_right_next", 0) + score.get("none_right_next", 0) > right + 0.03


def export(model, tok, none: float, args, digest: str, val_arts: list[dict], step: int, steps: int, log: list, minutes: float,
           autocast: bool, first_stage: dict | None = None) -> None:  # fmt: skip
    """The weights without the word embeddings (frozen: the bundled model's own, loaded from it), float16."""
    from qa.answer.model import save_state

    args.out.mkdir(parents=True, exist_ok=True)
    save_state(model, args.out)
    tok.save_pretrained(args.out)
    last = log[-1] if log else {}
    summary = {
        "seed": args.seed, "layers": model.config.num_hidden_layers, "batch": args.batch, "lr": args.lr, "epochs": args.epochs,
        "step": step, "steps": steps, "none_logit": round(none, 6), "with_next": _next_helps(last),
        "bf16": autocast, "minutes": round(minutes, 1), "train_sha256": digest,
        "held_apart_articles": [a["title"] for a in val_arts], "validation": log,
        "weights_sha256": sha256(args.out / WEIGHTS_FILE),
        **({"questions": args.questions, "padded": args.padded} if first_stage else {}),
        **({"pools": " ".join(p.name for p in args.pools)} if args.pools else {}),
        **({"first_stage": first_stage} if first_stage else {}),
    }  # fmt: skip
    (args.out / "training.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("held_apart_articles", "validation")}, indent=1))


if __name__ == "__main__":
    main()
