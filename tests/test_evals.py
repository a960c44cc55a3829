"""The eval runner: the gold suite as a CI gate, benchmark files in both formats, thresholds, the JSON
file and the report. Everything runs through the real engine, model and Chroma."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from evals import gold, runner
from evals.metrics import normalize
from qa.cli import main
from qa.config import Settings
from qa.corpus import read_paths
from tests.conftest import CORPUS, write

METRIC_KEYS = {
    "recall_at_1", "recall_at_5", "mrr", "answer_accuracy", "quote_f1", "citation_precision", "abstention_precision",
    "abstention_recall", "false_abstention_rate", "latency_p50_ms", "latency_p95_ms",
}  # fmt: skip


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CORPUS_DIR", str(CORPUS))


def test_gold_suite_is_well_formed():
    suite = gold.load()
    turns = [t for c in suite.cases for t in c.turns]
    singles = [c for c in suite.cases if len(c.turns) == 1]
    assert len([c for c in singles if c.turns[0].answers]) >= 40 - 10  # plus the conversation turns below
    assert len(turns) >= 40
    assert sum(t.unanswerable for t in turns) >= 10
    assert sum(len(c.turns) > 1 for c in suite.cases) >= 5
    text = normalize((CORPUS / "isis-k-explainer.txt").read_text(encoding="utf-8"))
    for case in suite.cases:
        for t in case.turns:
            for a in t.answers:  # a gold answer the article does not contain could never be matched
                assert normalize(a) in text, (case.id, a)


def test_gold_file_mistakes_are_named():
    with pytest.raises(ValidationError, match="not both"):
        gold.GoldSuite.model_validate({"cases": [{"id": "a", "question": "q", "answers": ["x"], "unanswerable": True, "doc_id": "d"}]})
    with pytest.raises(ValidationError, match="doc_id"):
        gold.GoldSuite.model_validate({"cases": [{"id": "a", "question": "q", "answers": ["x"]}]})
    with pytest.raises(ValidationError, match="duplicate case ids: a"):
        gold.GoldSuite.model_validate({"cases": [{"id": "a", "question": "q", "unanswerable": True}] * 2})


def test_gold_suite_meets_its_thresholds(in_repo, embed_model):
    """The CI gate: the gold suite must stay at or above every floor in evals/thresholds.toml."""
    result = runner.run_gold(Settings(), embed_model=embed_model)
    assert result.metrics.answerable >= 40 and result.metrics.unanswerable >= 10
    assert runner.failures(result, runner.load_thresholds()) == []
    # conversations are asked with the service's own earlier answers
    follow_up = next(r for r in result.records if r["id"] == "conv-leader#2")
    assert follow_up["question"] == "Where is he from?"
    # every quote is the exact span of the article as indexed (page furniture removed)
    text = read_paths([CORPUS], max_bytes=10**7).articles[0].text
    for r in result.records:
        for c in r["citations"]:
            assert text[c["start"] : c["end"]] == c["quote"]


def test_thresholds_catch_floors_and_ceilings(in_repo, embed_model):
    result = runner.run_gold(Settings(), embed_model=embed_model, path=_tiny_gold())
    failed = runner.failures(result, {"gold": {"min": {"answer_accuracy": 1.01}, "max": {"latency_p50_ms": 0.0}}})
    assert len(failed) == 2 and "below the floor 1.01" in failed[0] and "above the ceiling 0.0" in failed[1]
    with pytest.raises(ValueError, match="not a metric"):
        runner.failures(result, {"gold": {"min": {"accuracy": 0.5}}})


def _tiny_gold() -> Path:
    cases = [
        {"id": "leader", "question": "Who leads ISIS-K?", "answers": ["Shahab al-Muhajir"], "doc_id": "isis-k-explainer"},
        {"id": "cake", "question": "How do I bake a sponge cake?", "unanswerable": True},
    ]
    return write(Path("tiny-gold.json"), json.dumps({"cases": cases}))


def test_qa_eval_writes_json_and_report_and_exits_on_a_failed_floor(in_repo, embed_model, capsys):
    strict = write(Path("strict.toml"), "[gold.min]\nanswer_accuracy = 1.01\n")
    code = main(["eval", "--gold", str(_tiny_gold()), "--json", "out/gold.json", "--report", "out/gold.md", "--thresholds", str(strict)])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL answer_accuracy = 1.000, below the floor 1.01" in out
    payload = json.loads(Path("out/gold.json").read_text())
    assert METRIC_KEYS <= set(payload["metrics"])
    assert payload["metrics"]["answer_accuracy"] == 1.0 and payload["metrics"]["abstention_recall"] == 1.0
    by_id = {c["id"]: c for c in payload["cases"]}
    assert "Shahab al-Muhajir" in by_id["leader"]["answer"] and by_id["leader"]["correct"]
    assert by_id["cake"]["abstained"] and by_id["cake"]["answer"] == "The articles don't say."
    report = Path("out/gold.md").read_text()
    assert "![gold](gold.png)" in report and "| answer_accuracy | 1.000 |" in report
    assert Path("out/gold.png").read_bytes()[:4] == b"\x89PNG"
    lenient = write(Path("lenient.toml"), "[gold.min]\nanswer_accuracy = 0.5\n")
    assert main(["eval", "--gold", str(_tiny_gold()), "--thresholds", str(lenient)]) == 0
    assert "all thresholds met" in capsys.readouterr().out


def test_benchmark_files_in_both_formats_get_their_own_collection(embed_model, capsys):
    squad = {"data": [{"title": "Tea", "paragraphs": [
        {"context": "Green tea is grown in Shizuoka. The harvest starts in April.", "qas": [
            {"id": "q1", "question": "When does the tea harvest start?", "answers": [{"text": "April"}], "is_impossible": False},
            {"id": "q2", "question": "Who owns the tea farm?", "answers": [], "is_impossible": True}]},
        {"context": "Coffee came to Brazil in 1727. Brazil now grows a third of the world's coffee.", "qas": [
            {"id": "q3", "question": "When did coffee arrive in Brazil?", "answers": [{"text": "1727"}], "is_impossible": False}]},
    ]}]}  # fmt: skip
    path = write(Path("mini-squad.json"), json.dumps(squad))
    assert main(["eval", "--benchmark", str(path), "--unanswerable", "1", "--json", "squad.json"]) == 0
    payload = json.loads(Path("squad.json").read_text())
    assert {c["id"] for c in payload["cases"]} == {"q1", "q2", "q3"}
    assert payload["metrics"]["recall_at_1"] == 1.0 and payload["metrics"]["answer_accuracy"] == 1.0
    rgb = [{"query": "Who won the 2021 chess cup?", "answer": [["Ana Silva", "A. Silva"]],
            "positive": ["Ana Silva won the 2021 chess cup in Oslo on Sunday."],
            "negative": ["The 2019 chess cup went to Tom Berg.", ""]}]  # fmt: skip
    path = write(Path("mini-rgb.jsonl"), "\n".join(json.dumps(r) for r in rgb) + "\n")
    assert main(["eval", "--benchmark", str(path), "--json", "rgb.json"]) == 0
    case = json.loads(Path("rgb.json").read_text())["cases"][0]
    assert "Ana Silva" in case["answer"] and case["citations"][0]["doc_id"] == "rgb0-pos0"
    # the user's own index is untouched: each benchmark lives in its own collection
    assert main(["docs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == []


def test_bad_eval_arguments_are_refused(capsys):
    assert main(["eval", "--benchmark", "no-such-benchmark"]) == 1
    assert "no benchmark 'no-such-benchmark'" in capsys.readouterr().err
    assert main(["eval", "--benchmark", "squad2", "--limit", "0"]) == 1
    assert "--limit must be at least 1" in capsys.readouterr().err
