"""The command line's edges: eval never overwrites its input and names the bad line of a questions
file (exit 2, no traceback); progress is a bar on a terminal and plain lines elsewhere."""

from __future__ import annotations

import io
import json
import os

import pytest

from rag import cli, progress
from rag.errors import InputError
from rag.evaluate import load_questions

pytestmark = pytest.mark.unit

GOOD = json.dumps({"question": "Which town hosts the Glowfish Festival?", "answer": "Quillhaven"})


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\narticles_dir = "{tmp_path / "articles"}"\nindex_dir = "{tmp_path / "index"}"\n')
    return path


@pytest.mark.parametrize(("content", "message"), [
    (GOOD + '\n{"answer": "x"}\n', r"line 2: no \"question\""),
    (GOOD + '\n{"question": 5}\n', r'line 2: "question" must be a non-empty string'),
    ('{"question": "q", "answers": "Quillhaven"}\n', r'line 1: "answers" must be a list of strings'),
    ('{"question": "q", "choices": [{"a": 1}]}\n', r'line 1: "choices" must be a list of strings'),
    ('{"question": "q", "answer": ["x"]}\n', r'line 1: "answer" must be a string'),
    ('{"question": "q", "date": "yesterday"}\n', r"line 1: \"date\" 'yesterday' is not a YYYY-MM-DD date"),
    ('{"question": "q", "date": 20230905}\n', r'line 1: "date" must be a YYYY-MM-DD string'),
    ("\n" + GOOD + "\n[1, 2]\n", r"line 3: expected a JSON object, got list"),
    (GOOD + "\n{broken\n", r"line 2: malformed JSON"),
    ("", r"holds no questions"),
    ("\n  \n", r"holds no questions"),
])
def test_malformed_question_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_questions(path)


@pytest.mark.parametrize(("data", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 3: binary data"),
    (GOOD.encode() + b'\n{"question": "caf\xe9"}\n', r"line 2: not valid UTF-8 \(byte 0xe9\)"),
])
def test_binary_and_non_utf8_question_files(tmp_path, data, message):
    path = tmp_path / "q.jsonl"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_questions(path)


def test_eval_refuses_to_write_over_its_input(tmp_path, config, capsys, monkeypatch):
    questions = tmp_path / "q.jsonl"
    questions.write_text(GOOD + "\n")
    (tmp_path / "link.jsonl").symlink_to(questions)
    os.link(questions, tmp_path / "hard.jsonl")
    monkeypatch.chdir(tmp_path)
    for out in ("q.jsonl", str(questions), "./sub/../q.jsonl", "link.jsonl", "hard.jsonl"):
        assert cli.main(["--config", str(config), "eval", str(questions), "--out", out]) == 2
        err = capsys.readouterr().err
        assert "would be overwritten" in err and "Traceback" not in err
    assert questions.read_text() == GOOD + "\n"
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("{}\n")
    assert cli.main(["--config", str(config), "eval", "q.jsonl", "--corpus", "c.jsonl", "--out", str(corpus)]) == 2
    assert corpus.read_text() == "{}\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "missing.jsonl"], "no such file"),
    (["eval", "q.jsonl", "--corpus", "nope.jsonl"], "--corpus nope.jsonl: no such file"),
    (["eval", "q.jsonl", "--out", "."], "is a folder"),
    (["eval", "q.jsonl", "--limit", "0"], "--limit must be 1 or more"),
    (["eval", "bad.jsonl"], "bad.jsonl line 1: expected a JSON object"),
])
def test_eval_usage_errors_are_one_line_and_exit_2(tmp_path, config, capsys, monkeypatch, argv, message):
    (tmp_path / "q.jsonl").write_text(GOOD + "\n")
    (tmp_path / "bad.jsonl").write_text("42\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--config", str(config), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_plain_lines_off_a_terminal(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    shown = progress.ProgressDisplay("ingest", 4, "file", stream=stream)
    for done in range(1, 5):
        shown.update(done, articles=done * 2)
    shown.close()
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines()[0].startswith("ingest: 1/4 files (25%), articles 2, ")
    assert text.splitlines()[-1].startswith("ingest: 4/4 files (100%), articles 8, ")


def test_progress_lines_are_spaced_in_time(monkeypatch):
    stream = io.StringIO()
    shown = progress.ProgressDisplay("eval", 1000, "question", stream=stream)
    for done in range(1, 1001):
        shown.update(done)
    shown.close()
    assert stream.getvalue().count("\n") == 1  # within INTERVAL: only the closing line


def test_progress_is_a_bar_on_a_terminal():
    stream = FakeTerminal()
    shown = progress.ProgressDisplay("ingest", 3, "file", stream=stream)
    shown.update(2, chunks=5)
    shown.close()
    assert "\r" in stream.getvalue() and "2/3" in stream.getvalue()


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "2024-03-01", "--until", "2024-02-01"], "The date range is reversed"),
    (["--since", "last week"], "--since expects a date"),
])
def test_timeline_dates_are_checked_before_the_index_is_opened(config, tmp_path, capsys, args, message):
    assert cli.main(["--config", str(config), "timeline", "strike", *args]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "index").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "2024-03-01", "--until", "2024-02-01"], "The date range is reversed"),
    (["--until", "soon"], "--until expects a date"),
    (["--limit", "0"], "--limit must be 1 or more"),
])
def test_digest_arguments_are_checked_before_the_index_is_opened(config, tmp_path, capsys, args, message):
    assert cli.main(["--config", str(config), "digest", *args]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "index").exists()


@pytest.mark.integration
@pytest.mark.parametrize("argv", [["digest"], ["timeline", "strike"], ["stories"]])
def test_story_commands_on_an_empty_index_say_what_to_run(config, capsys, argv):
    assert cli.main(["--config", str(config), *argv]) == 1
    assert "No articles indexed yet: run `newsrag ingest" in capsys.readouterr().err


@pytest.mark.integration
def test_story_commands_on_an_index_without_stories_say_why(tmp_path, capsys, embedder):
    from ingest.index import ingest_paths
    from tests.conftest import ARTICLES, make_settings

    settings = make_settings(tmp_path, ARTICLES, stories={"enabled": False})
    ingest_paths([ARTICLES], settings, embedder=embedder)
    config = tmp_path / "off.toml"
    config.write_text(f'[paths]\nindex_dir = "{settings.index_dir}"\n[stories]\nenabled = false\n')
    assert cli.main(["--config", str(config), "digest"]) == 2
    assert "Stories are off ([stories] enabled = false)" in capsys.readouterr().err
