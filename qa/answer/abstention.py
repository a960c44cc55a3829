"""When the trained answer model's best sentence is an answer, and when the articles don't say.

A logistic classifier over what the model and the question tell about one candidate sentence: the
model's logit against its learnt "none of these" choice, the margin to the other candidates, the
probability of "none" among them all, the embedder's cosine, the question's weighted words found in
the sentence and around it, the share of the question's names and numbers found in the sentence and
its context, whether the sentence offers the kind of answer asked for, and the linear ranker's support
(which counts what other articles agree on). Fitted by
`python -m evals.fit_abstention` on SQuAD 1.1 train articles that training held apart (answerable
questions, questions whose paragraph is not indexed, and altered questions), its threshold set there
for at most 10% false abstention. Weights and threshold ship beside the model (`abstention.json`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from qa.text import whole_words

FILE = "abstention.json"


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
FEATURES = ("z", "margin", "none", "cos", "lex", "lex_window", "anchors", "no_anchors", "offers", "lacks", "ranker")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'\u2019-]*")


def anchors(question: str) -> set[str]:
    """The question's numbers and names (capitalised words not opening it), lowercased."""
    found = {m.group().lower() for m in _NUMBER.finditer(question)}
    found |= {m.group().lower() for m in _NAME.finditer(question.strip())}
    return found


def anchor_share(asked: set[str], text: str) -> float:
    if not asked:
        return 1.0
    low = text.lower()
    return sum(bool(whole_words(a).search(low)) for a in asked) / len(asked)


def candidate_features(z: Sequence[float], none: float, extra: Sequence[dict[str, float]]) -> list[dict[str, float]]:
    """Each candidate's features, from all candidates' logits (`z`) and its own `extra` values."""
    top = max([*z, none])
    mass = sum(math.exp(v - top) for v in z) + math.exp(none - top)
    p_none = math.exp(none - top) / mass
    out = []
    for i, zi in enumerate(z):
        rest = [v for j, v in enumerate(z) if j != i]
        out.append({"z": zi - none, "margin": zi - max(rest, default=none), "none": p_none, **extra[i]})
    return out


@dataclass(frozen=True)
class Abstention:
    weights: dict[str, float]
    bias: float
    threshold: float  # below this probability of a right answer, it abstains
    # Below `unsure`, the best sentence is wrong often enough that the runner-up is quoted too, when it
    # has at least `share` of the best's probability (fitted beside the threshold; 0 = never).
    unsure: float = 0.0
    share: float = 1.0

    @classmethod
    def load(cls, directory: Path) -> "Abstention":
        """The fitted classifier beside the model; before one is fitted, the model's own answer-or-none."""
        if not (Path(directory) / FILE).is_file():
            return cls({k: float(k == "z") for k in FEATURES}, 0.0, 0.5)
        raw = json.loads((Path(directory) / FILE).read_text(encoding="utf-8"))
        runner_up = raw.get("runner_up", {})
        return cls({k: float(raw["weights"].get(k, 0.0)) for k in FEATURES}, float(raw["bias"]), float(raw["threshold"]),
                   float(runner_up.get("unsure", 0.0)), float(runner_up.get("share", 1.0)))  # fmt: skip

    def runner_up(self, best: float, second: float, threshold: float) -> bool:
        """Whether the runner-up is quoted beside an unsure best: two plausible answers, each cited,
        rather than a coin toss between them."""
        return best < self.unsure and second >= max(threshold, self.share * best)

    def probability(self, features: dict[str, float]) -> float:
        return sigmoid(self.bias + sum(w * features[k] for k, w in self.weights.items()))
