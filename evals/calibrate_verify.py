"""Calibrate the verifier's similarity threshold (LLMSettings.min_support) on SQuAD 1.1 train data.

    python -m evals.calibrate_verify

The verifier accepts a generated sentence only when its cosine similarity to the best sentence of a
passage it cites reaches `min_support` (then numbers and names are checked too). This measures that
similarity on pairs whose answer is known:

- a pseudo-claim: the question made declarative with its gold answer put in ("Who leads ISIS-K?" +
  "Shahab al-Muhajir" -> "Shahab al-Muhajir leads ISIS-K."; "What is the capital of Peru?" + "Lima"
  -> "The capital of Peru is Lima."; "When did the war end?" + "1945" -> "The war end 1945.");
- a positive passage that states it: the question's gold paragraph;
- a negative passage that is about the same thing but does not contain the answer: the paragraph
  BM25 ranks first for the question among those without a gold answer (what retrieval would also
  hand the LLM).

Score = the highest cosine between the claim and a sentence of the passage (qa.text.sentence_spans,
the bundled all-MiniLM-L6-v2), as the verifier computes it. The sweep picks the threshold with the
best balanced accuracy (mean of the true-positive and true-negative rates) over all pairs.

Nothing is calibrated on a benchmark (a threshold fitted on what we evaluate with would flatter
the evaluation): the questions and paragraphs come from the SQuAD 1.1 train articles that the answer
model's training held apart (as in evals.calibrate), so the model scored below has not seen them either.
"""

from __future__ import annotations

import argparse
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.metrics import normalize
from evals.train_answer_model import TRAIN_FILE, shipped_split
from qa.config import AnswerSettings, EmbeddingSettings, LLMSettings
from qa.ingest.fields import article_from_fields
from qa.text import sentence_spans, terms

REPORT = Path(__file__).resolve().parent / "reports" / "verify_calibration.md"
GRID = [round(i / 100, 2) for i in range(0, 101)]
TARGET_TPR = 0.95

_WH = re.compile(
    r"^(?:(?:in|on|at|by|for|from|to|of|during|since|until|with|about|after|before)\s+)?"
    r"(?P<wh>what|which|who|whom|whose|when|where|why|"
    r"how(?:\s+(?P<amount>many|much|long|old|far|large|big|often|few|tall|high))?)\b"
    r"(?:\s+(?:year|years|century|decade|month|day|kind of|type of|percentage))?\b",
    re.IGNORECASE,
)
_DO = re.compile(r"\b(?:do|does|did)\b\s*", re.IGNORECASE)
_AUX = re.compile(
    r"^(?:is|are|was|were|has|have|had|can|could|will|would|should|may|might|do|does|did)\b\s*", re.IGNORECASE
)


def pseudo_claim(question: str, answer: str) -> str:
    """A declarative-ish sentence from a question and its answer; deterministic and crude on purpose.

    A leading wh-word is dropped and the answer appended (an auxiliary after it dropped too); "how many"
    and "how much" put the answer first. When "who", "what" or "which" opens the question: followed
    by a verb, the answer takes its place; followed by "is", "was", "can", ..., that word moves
    before the answer."""
    q = " ".join(question.split()).rstrip("?!. ").strip()
    m = _WH.match(q)
    if not m:
        claim = f"{q} {answer}"  # not a wh-question: "Is it ...", "Name the ..."
    else:
        rest = q[m.end() :].strip(" ,")
        aux = _AUX.match(rest)
        if m.group("amount") in ("many", "much"):
            claim = f"{answer} {_DO.sub('', rest, count=1)}"
        elif m.start("wh") > 0 or m.group("wh").lower() not in ("who", "what", "which") or m.end("wh") < m.end():
            claim = f"{_DO.sub('', rest[aux.end() :] if aux else rest, count=1)} {answer}"
        elif not aux:
            claim = f"{answer} {rest}"
        elif _DO.match(rest):
            claim = f"{rest[aux.end() :]} {answer}"
        else:
            claim = f"{rest[aux.end() :]} {aux.group().strip().lower()} {answer}"
    claim = " ".join(claim.split())
    return claim[:1].upper() + claim[1:] + "."


@dataclass(frozen=True)
class Pair:
    claim: str
    passage: str  # its text
    title: str
    positive: bool


class BM25:
    """Okapi BM25 (bm25s, Lucene's formula) over qa.text.terms (the terms the engine's lexical evidence uses)."""

    def __init__(self, texts: list[str]) -> None:
        import bm25s

        self.model = bm25s.BM25(k1=1.5, b=0.75, method="lucene", dtype="float64")
        self.model.index([terms(t) for t in texts], show_progress=False)

    def best(self, query: str, among: list[int]) -> int | None:
        """The best-scoring text among `among`; a tie goes to the one listed first."""
        if not among:
            return None
        known = sorted(t for t in set(terms(query)) if t in self.model.vocab_dict)
        s = self.model.get_scores(known) if known else np.zeros(max(among) + 1)
        return among[max(range(len(among)), key=lambda k: (s[among[k]], -k))]


def squad_pairs(n: int, seed: int) -> tuple[list[Pair], frozenset[str]]:
    """Pairs from `n` questions of the SQuAD 1.1 train articles the answer model's training held apart."""
    _, held = shipped_split()
    paragraphs: list[tuple[str, str]] = []  # (title, text), as the engine would index them
    pool = []
    for entry in held:
        title = entry["title"].replace("_", " ")
        for para in entry["paragraphs"]:
            paragraphs.append(
                (title, article_from_fields(doc_id="p", title=title, text=para["context"], source="").text)
            )
            for qa in para["qas"]:
                pool.append((qa["question"], sorted({a["text"] for a in qa["answers"]}), len(paragraphs) - 1))
    pool.sort(key=lambda r: r[0])  # a stable order before sampling, whatever the file's order
    sample = random.Random(seed).sample(pool, min(n, len(pool)))
    bm25 = BM25([t for _, t in paragraphs])
    normal = [normalize(t) for _, t in paragraphs]
    pairs = []
    for question, answers, gold in sample:
        # the shortest spelling: SQuAD's longer variants add surrounding words of the paragraph
        claim = pseudo_claim(question, min(answers, key=len))
        title, text = paragraphs[gold]
        pairs.append(Pair(claim, text, title, True))
        gold_norm = [a for a in map(normalize, answers) if a]
        others = [i for i, t in enumerate(normal) if i != gold and not any(a in t for a in gold_norm)]
        neg = bm25.best(question, others)
        if neg is not None:
            pairs.append(Pair(claim, paragraphs[neg][1], paragraphs[neg][0], False))
    return pairs, _lower_words(t for _, t in paragraphs)


def _lower_words(texts) -> frozenset[str]:
    words: set[str] = set()
    for t in texts:
        words.update(re.findall(r"\b[a-z][a-z'\u2019-]+\b", t))
    return frozenset(words)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)


def similarities(pairs: list[Pair], embed) -> tuple[np.ndarray, list[str]]:
    """Per pair: the best cosine between the claim and a passage sentence, and that sentence."""
    passages = sorted({p.passage for p in pairs})
    sentences = {t: [t[s:e] for s, e in sentence_spans(t)] for t in passages}
    flat = sorted({s for ss in sentences.values() for s in ss} | {p.claim for p in pairs})
    vectors = dict(zip(flat, _unit(np.asarray(embed(flat), dtype=np.float32))))
    scores, best = [], []
    for p in pairs:
        rows = sentences[p.passage]
        sims = np.array([vectors[s] for s in rows]) @ vectors[p.claim]
        k = int(np.argmax(sims))
        scores.append(float(sims[k]))
        best.append(rows[k])
    return np.array(scores), best


def model_scores(pairs: list[Pair], model) -> np.ndarray:
    """Per pair: the answer model's highest probability that a passage sentence answers the claim read
    as a question (the claim, the sentence, its title and the sentence before it)."""
    from qa.answer.model import sentence_candidates

    return np.array([
        max(model.scores(p.claim, sentence_candidates(p.passage, sentence_spans(p.passage), p.title)), default=0.0)
        for p in pairs
    ])  # fmt: skip


def best_balanced(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float, float, float]:
    """(threshold, TPR, TNR, balanced accuracy) at the best balanced accuracy over GRID."""
    t, tpr, tnr = max(((t, *rates(pos, neg, t)) for t in GRID), key=lambda r: (r[1] + r[2]) / 2)
    return t, tpr, tnr, (tpr + tnr) / 2


def names_and_numbers_hold(claim: str, passage: str, title: str, common: frozenset[str]) -> bool:
    """The verifier's fact check, with the whole passage and its title as evidence (the verifier
    itself narrows numbers to the closest sentences, so this is the lenient side of it)."""
    from qa.answer.verify import missing_facts

    body = f"{title}\n{passage}"
    return not missing_facts(claim, numbers_in=body, names_in=body, common=common)


def rates(pos: np.ndarray, neg: np.ndarray, t: float) -> tuple[float, float]:
    return float((pos >= t).mean()) if len(pos) else math.nan, float((neg < t).mean()) if len(neg) else math.nan


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """The chance a positive pair scores above a negative one (ties count half)."""
    if not len(pos) or not len(neg):
        return math.nan
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--squad", type=int, default=400, help="held-apart SQuAD 1.1 train questions to sample")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--report", type=Path, default=REPORT, metavar="FILE.md")
    args = p.parse_args()

    from qa import backends

    pairs, common = squad_pairs(args.squad, args.seed)
    model = backends.embedding_model(EmbeddingSettings())
    scores, best = similarities(pairs, model.get_text_embedding_batch)
    label = np.array([x.positive for x in pairs])
    pos, neg = scores[label], scores[~label]
    rows = []
    for t in GRID:
        tpr, tnr = rates(pos, neg, t)
        rows.append({"t": t, "tpr": tpr, "tnr": tnr, "bacc": (tpr + tnr) / 2})
    chosen = max(rows, key=lambda r: (round(r["bacc"], 9), -r["t"]))  # ties: the lower threshold
    at_target = max((r for r in rows if r["tpr"] >= TARGET_TPR), key=lambda r: r["t"])
    current = LLMSettings().min_support

    checked = np.array([names_and_numbers_hold(x.claim, x.passage, x.title, common) for x in pairs])

    def full(t: float) -> tuple[float, float]:
        accept = (scores >= t) & checked
        return float(accept[label].mean()), float((~accept)[~label].mean())

    def line(t: float) -> str:
        tpr, tnr = rates(pos, neg, t)
        cells = [f"{t:.2f}", f"{tpr:.3f}", f"{tnr:.3f}", f"{(tpr + tnr) / 2:.3f}", *(f"{v:.3f}" for v in full(t))]
        return "| " + " | ".join(cells) + " |"

    shown = sorted(
        {round(x, 2) for x in [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, chosen["t"], at_target["t"], current]}
    )
    examples = [(pairs[i], best[i], scores[i]) for i in range(len(pairs))]
    fp = sorted((e for e in examples if not e[0].positive and e[2] >= chosen["t"]), key=lambda e: -e[2])[:3]
    fn = sorted((e for e in examples if e[0].positive and e[2] < chosen["t"]), key=lambda e: e[2])[:3]
    ftpr, ftnr = full(chosen["t"])
    full_best = max(GRID, key=lambda t: (round(sum(full(t)) / 2, 9), -t))

    answer_model = backends.answer_model(AnswerSettings())
    mscores = model_scores(pairs, answer_model) if answer_model else np.zeros(len(pairs))
    m_pos, m_neg = mscores[label], mscores[~label]
    mt, mtpr, mtnr = best_balanced(m_pos, m_neg)[:3]

    def both(t: float, m: float) -> tuple[float, float]:
        accept = (scores >= t) & (mscores >= m) & checked
        return float(accept[label].mean()), float((~accept)[~label].mean())

    grid2 = [(t, m, *both(t, m)) for t in GRID[30:80:2] for m in GRID[0:100:5]]
    bt, bm, btpr, btnr = max(grid2, key=lambda r: (round((r[2] + r[3]) / 2, 9), -r[0], -r[1]))
    model_section = [
        "## The answer model as a second check",
        "",
        "The trained answer model (`qa/weights/answer-model`) reads the claim as a question and gives the "
        "probability that a passage sentence answers it; a pair's score is its best sentence's.",
        "",
        f"- Separation (AUC): cosine {auc(pos, neg):.3f}, answer model {auc(m_pos, m_neg):.3f}.",
        f"- Answer model alone, best balanced accuracy: threshold {mt:.2f}, TPR {mtpr:.3f}, TNR {mtnr:.3f} "
        f"(cosine alone: TPR {chosen['tpr']:.3f}, TNR {chosen['tnr']:.3f}).",
        f"- The whole verifier (cosine >= {chosen['t']:.2f} and the number/name check): TPR {ftpr:.3f}, TNR {ftnr:.3f}, "
        f"balanced accuracy {(ftpr + ftnr) / 2:.3f}.",
        f"- The whole verifier with the answer model as well (best pair of thresholds: cosine >= {bt:.2f}, model >= "
        f"{bm:.2f}): TPR {btpr:.3f}, TNR {btnr:.3f}, balanced accuracy {(btpr + btnr) / 2:.3f}.",
        "",
    ]

    md = [
        "# Calibrating the verifier's similarity threshold (min_support)",
        "",
        f"Reproduce: `.venv/bin/python -m evals.calibrate_verify --squad {args.squad} --seed {args.seed}` "
        "(model: the bundled all-MiniLM-L6-v2).",
        "",
        "## Data",
        "",
        f"- SQuAD 1.1 train (held-apart articles), `{TRAIN_FILE.name}`: {int(label.sum())} questions sampled "
        f"(seed {args.seed}) from the articles the answer model's training held apart. Positive: the gold paragraph. "
        "Negative: the paragraph of those articles BM25 ranks first for the question among those without any gold "
        f"answer ({int((~label).sum())}). No benchmark data: nothing is calibrated on what we evaluate with.",
        "- Claim: the question made declarative with the gold answer put in (drop the wh-word, append the "
        "answer; a subject who/what/which is replaced by it), e.g. "
        f'"{pairs[0].claim}"',
        "- Score: the highest cosine between the claim and a sentence of the passage, as the verifier computes it.",
        "",
        f"Separation (AUC): {auc(pos, neg):.3f}. "
        f"Median score of positives {np.median(pos):.3f}, of negatives {np.median(neg):.3f}.",
        "",
        "## Sweep",
        "",
        "TPR: positive pairs accepted; TNR: negative pairs rejected. The last two columns add the verifier's "
        "number and name check on top of the similarity (what the whole verifier does).",
        "",
        "| threshold | TPR | TNR | balanced acc. | TPR with names/numbers | TNR with names/numbers |",
        "| --- | --- | --- | --- | --- | --- |",
        *[line(t) for t in shown],
        "",
        "## Choice",
        "",
        f"- Best balanced accuracy: **{chosen['t']:.2f}** (TPR {chosen['tpr']:.3f}, TNR {chosen['tnr']:.3f}, "
        f"balanced accuracy {chosen['bacc']:.3f}). With the number/name check as well: TPR {ftpr:.3f}, TNR {ftnr:.3f}.",
        f"- For comparison, the threshold that would maximise the whole verifier's balanced accuracy (similarity "
        f"plus number/name check): {full_best:.2f} (TPR {full(full_best)[0]:.3f}, TNR {full(full_best)[1]:.3f}).",
        f"- Highest threshold that keeps TPR >= {TARGET_TPR}: {at_target['t']:.2f} (TNR {at_target['tnr']:.3f}).",
        f"- `LLMSettings.min_support` when this ran: {current:.2f}"
        + ("; the default is the choice above." if round(current, 2) == chosen["t"] else "; it differs from the choice above."),
        "",
        "Caveats: the claims are built from the question, so they share its wording, not an LLM's (an LLM "
        "copies the passage more closely); negatives are related passages, not contradictions, and a few state "
        "the fact in other words than the gold answer (the first examples below), so TNR is understated. The similarity "
        "alone separates the two only partly: the number and name check rejects most of the negatives it lets "
        'through. The positives that check rejects are mostly the questions\' own spellings ("Archaemenid" for '
        '"Achaemenid", "Millenium") and capitalised words the question adds, which generated sentences rarely have.',
        "",
        *model_section,
        "## Examples at the chosen threshold",
        "",
        *[f'- accepted a negative ({s:.3f}): "{x.claim}" vs "{b[:160]}"' for x, b, s in fp],
        *[f'- rejected a positive ({s:.3f}): "{x.claim}" vs "{b[:160]}"' for x, b, s in fn],
        "",
    ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md[md.index("## Sweep") : md.index("## Examples at the chosen threshold")]))
    print(f"report written to {args.report}")


if __name__ == "__main__":
    main()
