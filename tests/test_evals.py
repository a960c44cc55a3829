"""The eval runner: the gold suite as a CI gate, benchmark files in both formats, thresholds, the JSON
file and the report; generative runs against a real HTTP LLM server on loopback. Everything runs
through the real engine, model and Chroma."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import ValidationError

from evals import benchmarks, gold, report, runner
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
    assert runner.gate(result, runner.load_thresholds()) == runner.Gate([])  # the whole suite: its floors apply, and hold
    # conversations are asked with the service's own earlier answers
    follow_up = next(r for r in result.records if r["id"] == "conv-leader#2")
    assert follow_up["question"] == "Where is he from?"
    # every quote is the exact span of the article as indexed (page furniture removed)
    text = read_paths([CORPUS], max_bytes=10**7).articles[0].text
    for r in result.records:
        for c in r["citations"]:
            assert text[c["start"] : c["end"]] == c["quote"]


def test_gold_suite_with_every_rgb_snippet_beside_the_article(in_repo, embed_model):
    """Unrelated news indexed beside the article changes little of what the suite gets right: measured
    0.870 against 0.883 alone (issue 20), the linear ranker 0.623 against 0.636."""
    settings = Settings(answer=AnswerSettings(model="trained"))
    alone = runner.run_gold(settings, embed_model=embed_model)
    mixed = runner.run_gold(settings, embed_model=embed_model, distractors="rgb")
    assert mixed.name == "gold-distractors" and mixed.params["distractors"] > 900
    assert runner.gate(mixed, runner.load_thresholds()) == runner.Gate([])
    # issues 11 and 20 ask for 0.02 (measured 0.013 since the idf's background prior); the gate allows
    # three questions more, since Chroma's approximate search varies between rebuilds (issue 12)
    assert mixed.metrics.answer_accuracy >= alone.metrics.answer_accuracy - 0.04
    assert mixed.metrics.recall_at_1 >= 0.88  # the article still comes first for its own questions (0.935)


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


def test_a_benchmark_run_after_another_with_the_same_ids_asks_among_its_own_texts(embed_model):
    """Two files in SQuAD's format share a collection, and paragraph ids come from titles: the paraphrase
    sets both have "title-36-0". The second run's texts replace the first's under those ids; before, they
    were added beside them as "title-36-0-2" and then deleted as not the run's, so the second set was asked
    among the first's texts (56 adversarial paraphrases: right 0.036 instead of 0.80)."""
    def squad(context: str, question: str, answer: str) -> dict:
        return {"data": [{"title": "Tea", "paragraphs": [{"context": context, "qas": [
            {"id": "q1", "question": question, "answers": [{"text": answer}], "is_impossible": False}]}]}]}  # fmt: skip

    first = write(Path("first.json"), json.dumps(squad("Green tea is grown in Shizuoka. The harvest starts in April.",
                                                       "When does the tea harvest start?", "April")))  # fmt: skip
    second = write(Path("second.json"), json.dumps(squad("The Corran ferry crosses Loch Linnhe. It first sailed in 1934.",
                                                         "When did the Corran ferry first sail?", "1934")))  # fmt: skip
    for path, answer in ((first, "April"), (second, "1934"), (first, "April")):
        result = runner.run_benchmark(str(path), limit=None, embed_model=embed_model)
        assert result.records[0]["citations"][0]["doc_id"] == "tea-0" and answer in result.records[0]["answer"], result.records


def _one_line_error(capsys, needle: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qa: error: ") and needle in err and "Traceback" not in err, err


@pytest.mark.parametrize(("args", "needle"), [
    (["--benchmark", "no-such-benchmark"], "no benchmark 'no-such-benchmark': give squad2, rgb or the path"),
    (["--benchmark", "squad2", "--limit", "0"], "--limit must be at least 1"),
    (["--benchmark", "squad2", "--unanswerable", "-1"], "--unanswerable must be 0 or more"),
    (["--gold", "no-such-gold.json"], "gold suite no-such-gold.json is missing"),
    (["--thresholds", "no-such.toml"], "cannot read thresholds file no-such.toml: No such file or directory"),
])  # fmt: skip
def test_an_eval_that_cannot_run_is_one_line_and_exit_2(capsys, args, needle):
    """Exit 1 means a metric crossed its bound; a run that cannot happen is 2, refused before any indexing."""
    assert main(["eval", *args]) == 2
    _one_line_error(capsys, needle)


def test_bad_files_are_one_line_and_exit_2(capsys):
    write(Path("broken.json"), '{"data": [')
    assert main(["eval", "--benchmark", "broken.json"]) == 2
    _one_line_error(capsys, "benchmark file broken.json is not in SQuAD 2.0's JSON format (JSONDecodeError: ")
    write(Path("rows.jsonl"), '{"query": "q"}\n')
    assert main(["eval", "--benchmark", "rows.jsonl"]) == 2
    _one_line_error(capsys, "benchmark file rows.jsonl is not in RGB's JSON-lines format (KeyError: 'answer')")
    write(Path("bad-gold.json"), json.dumps({"cases": [{"id": "a", "question": "q", "answers": ["x"]}]}))
    assert main(["eval", "--gold", "bad-gold.json"]) == 2
    _one_line_error(capsys, "gold suite bad-gold.json: cases.0: Value error, a: answerable turns need the doc_id")
    write(Path("typo.toml"), "[squad2.min]\nrecal_at_1 = 0.9\n")
    assert main(["eval", "--gold", "bad-gold.json", "--thresholds", "typo.toml"]) == 2
    _one_line_error(capsys, "thresholds: squad2.min.recal_at_1 is not a metric")
    write(Path("typo.toml"), "[squad2.sample]\nlimit = 10.5\n")
    assert main(["eval", "--thresholds", "typo.toml"]) == 2
    _one_line_error(capsys, 'thresholds: squad2.sample.limit must be a whole number from 1 or "all", not 10.5')


# -- the benchmarks travel with the repository -----------------------------------------------------
def test_squad2_and_rgb_are_read_from_the_vendored_copies_from_any_directory(capsys):
    """Tests run in tmp_path, outside the repository: what a user anywhere with a clone sees."""
    assert not Path("evals").exists()
    squad = benchmarks.load("squad2", limit=5, seed=0)
    assert squad.file == Path(runner.__file__).parent / "data" / "squad-v2-dev-half.json"
    assert len(squad.articles) == 646 and len(squad.cases) == 5 and squad.available == (2910, 3168)
    rgb = benchmarks.load("rgb", limit=None)
    assert rgb.file == Path(runner.__file__).parent / "data" / "rgb-en-fact.jsonl" and len(rgb.cases) == 100
    # the CLI finds it too: it reads all 646 paragraphs, then stops before indexing them (no LLM for generative)
    assert main(["eval", "--benchmark", "squad2", "--limit", "5", "--mode", "generative"]) == 2
    _one_line_error(capsys, "generative mode needs an LLM")
    readme = (benchmarks.VENDORED_DIR / "README.md").read_text(encoding="utf-8")
    assert all(f"## {name}" in readme for name in benchmarks.FILES.values())
    assert "CC BY-SA 4.0" in readme and "Rajpurkar" in readme and "CC BY-NC-SA 4.0" in readme and "Chen" in readme


def test_a_missing_vendored_file_is_one_line(in_repo, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(benchmarks, "DEFAULT_DIR", tmp_path / "a-clone-without-data")  # where names are looked up
    assert main(["eval", "--benchmark", "squad2", "--limit", "5"]) == 2
    _one_line_error(capsys, f"benchmark file {tmp_path}/a-clone-without-data/squad-v2-dev-half.json is missing")
    assert main(["eval", "--distractors", "rgb"]) == 2
    _one_line_error(capsys, "rgb-en-fact.jsonl is missing")
    with pytest.raises(FileNotFoundError):  # scripts that skip a benchmark they lack still can
        benchmarks.load("squad2", limit=5)


# -- floors hold for the sample they were set for ---------------------------------------------------
def _bench_run(name: str, *, limit: int | None, seed: int = 0, unanswerable: int = 0) -> runner.Run:
    bench = benchmarks.load(name, limit=limit, seed=seed, unanswerable=unanswerable)
    return runner.Run(bench.name, [], [], summarize([]), {}, runner.benchmark_sample(bench, seed))


@pytest.mark.parametrize(("name", "kwargs", "reason"), [
    ("squad2", {"limit": 1000}, None),
    ("squad2", {"limit": 100}, "they are set for --limit 1000 --seed 0; this run used --limit 100 --seed 0"),
    ("squad2", {"limit": 1000, "seed": 3}, "they are set for --limit 1000 --seed 0; this run used --limit 1000 --seed 3"),
    ("squad2", {"limit": 1000, "unanswerable": 300},
     "they are set for --limit 1000 --seed 0; this run used --limit 1000 --unanswerable 300 --seed 0"),
    ("squad2", {"limit": None}, "they are set for --limit 1000 --seed 0; this run used all 2910 answerable questions"),
    ("rgb", {"limit": None}, None),
    ("rgb", {"limit": 100, "seed": 7}, None),  # every question, in another order: the same sample
    ("rgb", {"limit": 10}, "they are set for all 100 questions; this run used --limit 10 --seed 0"),
])  # fmt: skip
def test_floors_apply_to_their_own_sample_only(name, kwargs, reason):
    verdict = runner.gate(_bench_run(name, **kwargs), runner.load_thresholds())
    assert verdict.skipped == reason
    if reason is None:  # gated: nothing was asked here, so every floor fails
        assert verdict.failed and all("below the floor" in f for f in verdict.failed)
    else:
        assert verdict.failed == []


def test_another_sample_prints_its_metrics_says_why_and_exits_0(in_repo, embed_model, capsys):
    assert main(["eval", "--gold", str(_tiny_gold()), "--report", "out/tiny.md"]) == 0
    out = capsys.readouterr().out
    reason = f"floors not applied: they are set for {gold.GOLD_FILE}; this run used tiny-gold.json"
    assert "  answer_accuracy          1.000" in out and f"  {reason}\n" in out and "FAIL" not in out
    assert f"Thresholds: {reason}" in Path("out/tiny.md").read_text()
    # a thresholds file whose sample is this file gates it: exit 1 below the floor
    write(Path("own.toml"), '[gold.sample]\nfile = "tiny-gold.json"\n\n[gold.min]\nanswer_accuracy = 1.01\n')
    assert main(["eval", "--gold", str(_tiny_gold()), "--thresholds", "own.toml"]) == 1
    assert "FAIL answer_accuracy = 1.000, below the floor 1.01" in capsys.readouterr().out


# -- JUnit XML -------------------------------------------------------------------------------------
JUNIT_CASES = [
    {"id": "leader", "question": "Who leads ISIS-K?", "answers": ["Shahab al-Muhajir"], "doc_id": "isis-k-explainer"},
    {"id": "wrong<&>", "question": 'Who leads ISIS-K? "<b>&amp;</b>"', "answers": ["Napoleon & <Josephine>"],
     "doc_id": "isis-k-explainer"},
    {"id": "should-abstain", "question": "Who leads ISIS-K?", "unanswerable": True},
    {"id": "cake", "question": "How do I bake a sponge cake?", "unanswerable": True},
    {"id": "conv", "doc_id": "isis-k-explainer", "turns": [
        {"question": "Who leads ISIS-K?", "answers": ["Shahab al-Muhajir"]},
        {"question": "Where is he from?", "answers": ["Iraq"]}]},
]  # fmt: skip


def test_junit_has_a_case_per_question_with_what_was_expected_and_said(in_repo, embed_model, capsys):
    path = write(Path("junit-gold.json"), json.dumps({"cases": JUNIT_CASES}))
    code = main(["eval", "--gold", str(path), "--junit", "out/junit.xml", "--junit-cases", "--json", "out/cases.json"])
    captured = capsys.readouterr()
    assert code == 0 and "JUnit XML written to out/junit.xml" in captured.out
    assert "\r" not in captured.err and "loading" not in captured.err  # stderr is no terminal here: no bar
    root = ET.parse("out/junit.xml").getroot()
    suite = root.find("testsuite")
    payload = json.loads(Path("out/cases.json").read_text())
    floors, *testcases = suite.findall("testcase")
    assert floors.get("name") == "thresholds" and floors.find("skipped") is not None  # set for another sample
    assert [t.get("name") for t in testcases] == [f"{c['id']}: {c['question']}" for c in payload["cases"]]
    assert testcases[1].get("name") == 'wrong<&>: Who leads ISIS-K? "<b>&amp;</b>"'  # escaped in the file, intact when read
    assert {t.get("classname") for t in testcases} == {"gold"} and suite.get("tests") == "7" == root.get("tests")
    failures = {t.get("name").split(":")[0]: t.find("failure") for t in testcases if t.find("failure") is not None}
    wrong = [c["id"] for c in payload["cases"] if not (c["correct"] if c["gold_answers"] else c["abstained"])]
    assert sorted(failures) == sorted(wrong) and suite.get("failures") == str(len(wrong))
    outcomes = {t.get("name").split(":")[0]: t.find("properties/property[@name='outcome']").get("value") for t in testcases}
    assert outcomes["leader"] == "right" and outcomes["should-abstain"] == "answered_unanswerable"
    # without --junit-cases a wrong question is told in its properties and output, and only the floors can fail
    assert main(["eval", "--gold", str(path), "--junit", "out/plain.xml"]) == 0
    plain = ET.parse("out/plain.xml").getroot().find("testsuite")
    assert plain.get("failures") == "0" and not plain.findall(".//failure")
    told = {t.get("name").split(":")[0]: t.findtext("system-out") for t in plain.findall("testcase")}
    assert told["should-abstain"].startswith("expected an abstention") and told["leader"] is None
    own = write(Path("own.toml"), '[gold.sample]\nfile = "junit-gold.json"\n\n[gold.min]\nanswer_accuracy = 1.01\n')
    assert main(["eval", "--gold", str(path), "--junit", "out/red.xml", "--thresholds", str(own)]) == 1
    red = ET.parse("out/red.xml").getroot().find("testsuite")
    assert red.get("failures") == "1" and "below the floor 1.01" in red.find("testcase[@name='thresholds']/failure").get("message")
    assert {"wrong<&>", "should-abstain"} <= set(failures) and not {"leader", "cake"} & set(failures)
    said = next(c["answer"] for c in payload["cases"] if c["id"] == "wrong<&>")
    assert failures["wrong<&>"].get("type") == ("false_abstention" if said == "The articles don't say." else "wrong_answer")
    assert failures["wrong<&>"].get("message") == f"expected one of 'Napoleon & <Josephine>'; answered {said!r}"
    assert f"answered: {said}\ncited: " in failures["wrong<&>"].text and "gold articles: isis-k-explainer" in failures["wrong<&>"].text
    assert failures["should-abstain"].get("type") == "answered_unanswerable"  # an abstention case that answered
    assert failures["should-abstain"].get("message").startswith("expected an abstention")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert float(props["answer_accuracy"]) == pytest.approx(payload["metrics"]["answer_accuracy"], abs=1e-4)
    assert props["answerable"] == "4" and props["unanswerable"] == "2" and not any(k.startswith("generation.") for k in props)
    assert props["thresholds"].startswith("not applied: they are set for ")
    assert float(suite.get("time")) == pytest.approx(sum(float(t.get("time")) for t in testcases), abs=0.01)


def test_junit_is_well_formed_whatever_the_text():
    record = {"id": "x", "question": "Is \x01 a control?", "gold_answers": ["a]]>b"], "gold_docs": ["d"],
              "answer": "No \x0b<script>]]></script>", "abstained": False, "correct": False, "citations": [], "latency_ms": 1.0}  # fmt: skip
    run = runner.Run("gold", [], [record], summarize([]))
    root = ET.fromstring(ET.tostring(report.junit(run, cases=True).getroot()))  # a parser refuses raw control characters
    case = root.findall("testsuite/testcase")[1]
    assert case.get("name") == "x: Is \\x01 a control?" and "No \\x0b<script>]]></script>" in case.find("failure").text
    plain = ET.fromstring(ET.tostring(report.junit(run).getroot())).findall("testsuite/testcase")[1]
    assert "No \\x0b<script>]]></script>" in plain.findtext("system-out")


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
    assert main(["eval", "--verify", "flag", "--gold", str(_gold_subset("leader"))]) == 2
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
