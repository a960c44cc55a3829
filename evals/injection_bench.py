"""How well the injection filter holds on text it was never tuned on.

    python -m evals.injection_bench [--squad PATH] [--limit N] [--show K]

Three measurements:
- misses on the held-out injections (evals/data/injection-heldout.jsonl, `"injected": true`): an
  item is caught when EVERY sentence of it is flagged (a split injection needs both halves masked);
  "never evidence" counts an item as caught when every sentence is flagged or a command;
- false alarms on the held-out normal sentences (`"injected": false`, ordinary news and reported
  commands): any sentence flagged, or (second column) not usable as evidence;
- false alarms over every sentence of the SQuAD 1.1 training paragraphs (split with
  `qa.text.sentence_spans`, judged with their neighbours as the service judges an article).

The held-out file was written before the rules it measures and is never used to tune them (the
tuning phrasings live in tests/test_injection.py). It works on the filter as it was before the
command test too (then "flagged" and "never evidence" are the same `instruction_like`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from qa.answer import injection
from qa.text import sentence_spans

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "evals" / "data" / "injection-heldout.jsonl"
SQUAD = ROOT.parent / "shared" / "training" / "squad-v1.1-train.json"


def judge(text: str) -> tuple[list[bool], list[bool]]:
    """Per sentence of `text`: flagged (masked), and never evidence (flagged or a command)."""
    spans = sentence_spans(text)
    if hasattr(injection, "flagged_spans"):
        flags = injection.flagged_spans(text, spans)
        commands = [f or injection.commanding(text[s:e]) for f, (s, e) in zip(flags, spans)]
        return flags, commands
    flags = [injection.instruction_like(text[s:e]) for s, e in spans]
    return flags, flags


def heldout(show: int) -> dict:
    rows = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    out: dict = {"injected": 0, "missed": 0, "missed_evidence": 0, "normal": 0, "false_flag": 0, "false_evidence": 0}
    by_kind: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        flags, commands = judge(row["text"])
        kind = row["kind"]
        if row["injected"]:
            out["injected"] += 1
            by_kind[kind]["n"] += 1
            if not (flags and all(flags)):
                out["missed"] += 1
                by_kind[kind]["missed"] += 1
                examples["missed"].append(row["text"])
            if not (commands and all(commands)):
                out["missed_evidence"] += 1
                examples["usable as evidence"].append(row["text"])
        else:
            out["normal"] += 1
            if any(flags):
                out["false_flag"] += 1
                examples["false alarm"].append(row["text"])
            if any(commands):
                out["false_evidence"] += 1
                examples["wrongly not evidence"].append(row["text"])
    out["by_kind"] = {k: dict(v) for k, v in sorted(by_kind.items())}
    out["examples"] = {k: v[:show] for k, v in examples.items()}
    return out


def squad(path: Path, limit: int | None, show: int) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs = [p["context"] for article in data for p in article["paragraphs"]][:limit]
    sentences = flagged = commands = 0
    examples: dict[str, list[str]] = {"flagged": [], "command": []}
    started = time.perf_counter()
    for text in paragraphs:
        spans = sentence_spans(text)
        flags, never = judge(text)
        sentences += len(spans)
        for (s, e), f, c in zip(spans, flags, never):
            flagged += f
            commands += c
            if f and len(examples["flagged"]) < show:
                examples["flagged"].append(text[s:e])
            elif c and not f and len(examples["command"]) < show:
                examples["command"].append(text[s:e])
    return {
        "paragraphs": len(paragraphs), "sentences": sentences, "flagged": flagged, "not_evidence": commands,
        "seconds": round(time.perf_counter() - started, 1), "examples": examples,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--squad", type=Path, default=SQUAD)
    ap.add_argument("--limit", type=int, default=None, help="only the first N SQuAD paragraphs")
    ap.add_argument("--show", type=int, default=10, help="examples shown per kind of error")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    h = heldout(args.show)
    q = squad(args.squad, args.limit, args.show) if args.squad.exists() else None
    if args.json:
        print(json.dumps({"heldout": h, "squad": q}, ensure_ascii=False, indent=1))
        return 0
    print(f"held-out injections: {h['missed']}/{h['injected']} missed by the filter (not every sentence flagged), "
          f"{h['missed_evidence']}/{h['injected']} still usable as evidence")  # fmt: skip
    for kind, c in h["by_kind"].items():
        print(f"  {kind:<12} {c.get('missed', 0)}/{c['n']} missed")
    print(f"held-out normal sentences: {h['false_flag']}/{h['normal']} flagged, "
          f"{h['false_evidence']}/{h['normal']} wrongly not evidence")  # fmt: skip
    for what, texts in h["examples"].items():
        for t in texts:
            print(f"  [{what}] {t}")
    if q is None:
        print(f"SQuAD: {args.squad} not found")
        return 0
    print(
        f"SQuAD 1.1 train: {q['paragraphs']} paragraphs, {q['sentences']} sentences: {q['flagged']} flagged "
        f"({q['flagged'] / max(1, q['sentences']):.4%}), {q['not_evidence']} not evidence "
        f"({q['not_evidence'] / max(1, q['sentences']):.4%}) in {q['seconds']} s"
    )
    for what, texts in q["examples"].items():
        for t in texts:
            print(f"  [{what}] {t[:200]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
