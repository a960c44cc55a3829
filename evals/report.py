"""Printing and reporting a run: the terminal table, the JSON file, the markdown report and its plot,
and JUnit XML for CI.

A generative run adds which LLM produced it and the verifier's figures over the generated sentences.
The abstention-threshold sweep is left out for it: the threshold decides only extractive answers."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from evals.metrics import summarize, sweep
from evals.runner import Run

THRESHOLDS = [i / 100 for i in range(0, 91)]
MAX_FALSE_ABSTENTION = 0.10  # the operating point reported for abstention recall (issue 20)


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return "n/a" if value != value else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def _nulls(values: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def generative(run: Run) -> bool:
    return run.metrics.generation is not None


def llm_line(run: Run) -> str:
    p = run.params
    return (f"{p.get('llm_backend')} model `{p.get('llm_model')}` at {p.get('llm_base_url')} "
            f"(verify={p.get('verify')}, min_support={p.get('min_support')})")  # fmt: skip


def operating_point(run: Run, max_false: float = MAX_FALSE_ABSTENTION) -> dict[str, float] | None:
    """The best abstention recall whose false-abstention rate stays at or below `max_false`."""
    if not run.metrics.unanswerable or not run.metrics.answerable or generative(run):
        return None
    ok = [r for r in sweep(run.outcomes, THRESHOLDS) if r["false_abstention_rate"] <= max_false]
    return max(ok, key=lambda r: (r["abstention_recall"], -r["threshold"]), default=None)


def thresholds_line(failed: list[str], skipped: str | None) -> str:
    """The verdict in one sentence, for the table's last line and the report."""
    if skipped:
        return f"floors not applied: {skipped}"
    return "; ".join(failed) if failed else "all met."


def table(run: Run, failed: list[str], skipped: str | None = None) -> str:
    lines = [f"{run.name}: {run.metrics.answerable} answerable, {run.metrics.unanswerable} unanswerable"]
    lines += [f"  {k:<24} {_fmt(v)}" for k, v in run.metrics.headline().items() if k not in ("answerable", "unanswerable")]
    if gen := run.metrics.generation:
        lines.append(f"  generated sentences, verified ({llm_line(run)}):")
        lines += [f"    {k:<22} {_fmt(v)}" for k, v in gen.values().items()]
    if point := operating_point(run):
        lines.append(f"  abstention recall {point['abstention_recall']:.3f} at false abstention "
                     f"{point['false_abstention_rate']:.3f} (threshold {point['threshold']:.2f})")  # fmt: skip
    if skipped:  # the floors were set for another sample: they would say nothing about this one
        lines.append(f"  {thresholds_line(failed, skipped)}")
    else:
        lines += [f"  FAIL {f}" for f in failed] or ["  all thresholds met"]
    return "\n".join(lines)


def write_json(run: Run, path: Path) -> None:
    metrics = _nulls(run.metrics.headline())
    if gen := run.metrics.generation:
        metrics["generation"] = _nulls(gen.values())
    payload = {"run": run.name, "params": run.params, "metrics": metrics, "cases": run.records}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def plot(run: Run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = summarize(run.outcomes, max_k=10).recall_curve
    if generative(run):  # the abstention threshold does not decide generative answers
        fig, left = plt.subplots(1, 1, figsize=(5.5, 4))
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(list(curve), list(curve.values()), marker="o")
    left.set(title="Retrieval: recall@k", xlabel="k (articles)", ylabel="recall", ylim=(0, 1.02), xticks=list(curve))
    left.grid(alpha=0.3)
    if not generative(run):
        _threshold_panel(run, sweep(run.outcomes, THRESHOLDS), right)
    fig.suptitle(f"{run.name}: {run.metrics.answerable} answerable, {run.metrics.unanswerable} unanswerable")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _threshold_panel(run: Run, rows: list[dict[str, float]], right) -> None:
    xs = [r["threshold"] for r in rows]
    right.plot(xs, [r["answer_accuracy"] for r in rows], label="answer accuracy (answerable)")
    right.plot(xs, [r["false_abstention_rate"] for r in rows], label="false abstention (answerable)")
    if run.metrics.unanswerable:
        right.plot(xs, [r["abstention_recall"] for r in rows], label="abstention recall (unanswerable)")
    current = run.params.get("abstain_threshold")
    if current is not None:
        right.axvline(current, color="grey", linestyle="--", label=f"threshold in use ({current:.2f})")
    right.set(title="Answers against the abstention threshold", xlabel="threshold", ylim=(0, 1.02))
    right.grid(alpha=0.3)
    right.legend(fontsize=8, loc="best")


def write_markdown(run: Run, path: Path, failed: list[str], *, command: str, skipped: str | None = None) -> None:
    image = path.with_suffix(".png")
    plot(run, image)
    m = run.metrics.headline()
    gen = run.metrics.generation
    lines = [f"# Eval report: {run.name}", "", f"Reproduce: `{command}`", ""]
    if gen:
        lines += [f"LLM: {llm_line(run)}", ""]
    lines += [f"Parameters: {', '.join(f'{k}={v}' for k, v in run.params.items())}", "",
              f"![{run.name}]({image.name})", "", "| metric | value |", "| --- | --- |"]  # fmt: skip
    lines += [f"| {k} | {_fmt(v)} |" for k, v in m.items()]
    if gen:
        lines += ["", "## Generated sentences, as the verifier judged them", "",
                  "Over every sentence the LLM wrote in the run (\"the articles don't say\" left out), micro-averaged. "
                  "citation_precision: citations that support their sentence on their own / citation markers emitted "
                  "(invalid ones included); citation_recall: sentences with a supporting citation that pass the "
                  "verifier; unsupported_rate: sentences that fail it (removed in strict mode); fallback_rate: answers "
                  "that fell back to the extractive one. n/a: nothing to measure. The table above scores the final "
                  "answers as for extractive ones (over 2 sentences or 75 words counts as wrong).", "",
                  "| metric | value |", "| --- | --- |"]  # fmt: skip
        lines += [f"| {k} | {_fmt(v)} |" for k, v in gen.values().items()]
    if point := operating_point(run):
        lines += ["", f"Abstention recall at a false-abstention rate of {MAX_FALSE_ABSTENTION} or less: "
                  f"**{point['abstention_recall']:.3f}** (threshold {point['threshold']:.2f}, false abstention "
                  f"{point['false_abstention_rate']:.3f})."]  # fmt: skip
    lines += ["", "Thresholds: " + thresholds_line(failed, skipped), ""]
    wrong = [r for r in run.records if r["gold_answers"] and not r["correct"]]
    missed = [r for r in run.records if not r["gold_answers"] and not r["abstained"]]
    for title, rows in (("Answerable questions it got wrong", wrong), ("Unanswerable questions it answered", missed)):
        if rows:
            lines += [f"## {title} ({len(rows)}; first 15)", ""]
            lines += [f"- `{r['id']}` {r['question']} — gold: {r['gold_answers'] or 'none'} — said: "
                      f"{r['answer'][:200]}" for r in rows[:15]]  # fmt: skip
            lines.append("")
    unsupported = [(r, s) for r in run.records for s in r.get("sentences", []) if not s["supported"] and not s["abstention"]]
    if unsupported:
        lines += [f"## Generated sentences the verifier rejected ({len(unsupported)}; first 15)", ""]
        lines += [f"- `{r['id']}` {s['text'][:200]} — {s['reason']}" for r, s in unsupported[:15]]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


# -- JUnit XML -------------------------------------------------------------------------------------
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # not allowed in XML 1.0


def _xml(text: object) -> str:
    """ElementTree escapes <, & and quotes, but writes control characters as they are, which no parser
    reads back: they are shown as \\xNN instead."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else "nan" if value != value else str(round(value, 4))


def _failure(record: dict) -> tuple[str, str, str] | None:
    """(type, message, details) for a wrong turn; None when it is right (an unanswerable one abstained)."""
    said = record["answer"]
    if not record["gold_answers"]:
        if record["abstained"]:
            return None
        kind, expected = "answered_unanswerable", "expected an abstention (the articles do not answer it)"
    elif record["correct"]:
        return None
    else:
        kind = "false_abstention" if record["abstained"] else "wrong_answer"
        expected = "expected one of " + "; ".join(repr(a) for a in record["gold_answers"])
    cited = ", ".join(dict.fromkeys(c["doc_id"] for c in record["citations"])) or "nothing"
    details = f"{expected}\nanswered: {said}\ncited: {cited}\ngold articles: {', '.join(record['gold_docs']) or 'none'}"
    if record.get("would_answer"):  # an abstention: what it held back
        details += f"\nwithout abstaining it would have said: {record['would_answer']}"
    short = said if len(said) <= 200 else said[:199] + "…"  # the message is a summary; the details hold it all
    return kind, f"{expected}; answered {short!r}", details


def junit(run: Run, failed: list[str] | None = None, skipped: str | None = None, *, cases: bool = False) -> ET.ElementTree:
    """One <testcase> per question or conversation turn, and one for the run's floors; the run's metrics as
    <properties>. A question's outcome is in its own <properties> and <system-out>; it is a <failure> only
    with `cases` (`qa eval --junit-cases`): otherwise a dashboard shows red exactly when `qa eval` fails."""
    outcomes = [(r, _failure(r)) for r in run.records]
    seconds = sum(r["latency_ms"] for r in run.records) / 1000  # time spent answering; indexing is not a test
    failures = sum(f is not None for _, f in outcomes) if cases else 0
    counts = {"tests": str(len(outcomes) + 1), "failures": str(failures + bool(failed)), "errors": "0",
              "skipped": str(int(bool(skipped))), "time": f"{seconds:.3f}"}  # fmt: skip
    root = ET.Element("testsuites", {"name": _xml(f"qa eval {run.name}"), **counts})
    suite = ET.SubElement(root, "testsuite", {"name": _xml(run.name), **counts})
    props = ET.SubElement(suite, "properties")
    values = run.metrics.values()
    for name, value in values.items():
        if not name.startswith("generation.") or run.metrics.generation:
            ET.SubElement(props, "property", {"name": name, "value": _number(value)})
    verdict = "not applied: " + skipped if skipped else ("failed: " + "; ".join(failed) if failed else "all met")
    ET.SubElement(props, "property", {"name": "thresholds", "value": _xml(verdict)})
    floors = ET.SubElement(suite, "testcase", {"classname": _xml(run.name), "name": "thresholds", "time": "0.000"})
    if skipped:
        ET.SubElement(floors, "skipped", {"message": _xml(skipped)})
    elif failed:
        ET.SubElement(floors, "failure", {"type": "threshold", "message": _xml("; ".join(failed))}).text = _xml("\n".join(failed))
    for record, failure in outcomes:
        attrs = {"classname": _xml(run.name), "name": _xml(f"{record['id']}: {record['question']}"),
                 "time": f"{record['latency_ms'] / 1000:.3f}"}  # fmt: skip
        case = ET.SubElement(suite, "testcase", attrs)
        outcome = ET.SubElement(case, "properties")
        ET.SubElement(outcome, "property", {"name": "outcome", "value": failure[0] if failure else "right"})
        if failure and cases:
            kind, message, details = failure
            ET.SubElement(case, "failure", {"type": kind, "message": _xml(message)}).text = _xml(details)
        elif failure:
            ET.SubElement(case, "system-out").text = _xml(f"{failure[1]}\n{failure[2]}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(run: Run, path: Path, failed: list[str] | None = None, skipped: str | None = None, *, cases: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit(run, failed, skipped, cases=cases).write(path, encoding="utf-8", xml_declaration=True)
