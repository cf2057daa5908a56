"""Saved chats: the SQLite store (migrations, several writers, owners, damaged or newer files, exports,
feedback as eval questions) and the CLI flow over a real index in a child process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest

from rag import chats as chats_module
from rag.chats import MIGRATIONS, SCHEMA_VERSION, ChatStore
from rag.errors import ChatStoreError, InputError
from rag.evaluate import load_questions
from rag.schema import Answer, AnswerSentence, Citation, Filters, Refusal, Support

ROOT = Path(__file__).resolve().parents[1]


def answer(question: str = "Who directs the observatory?", *, refused: bool = False) -> Answer:
    """A two-source answer as the answerer makes them: [n] markers, verdicts, quoted sentences with spans."""
    if refused:
        return Answer(question, question, "I could not find this in the indexed articles.", (), (),
                      refusal=Refusal("missing_terms", "The indexed articles never mention “Zorro”.", ("Zorro",)))
    cites = (
        Citation(1, "a1", "a1:0", "New observatory on Mount Kell", "Kell Science Weekly", date(2024, 4, 5),
                 "https://kell-science.example/comet", "observatory.json", "passage one", 0, 200),
        Citation(2, "a2", "a2:0", "Glowfish Festival", "", None, "", "glowfish.txt", "passage two", 0, 100),
    )
    sentences = (
        AnswerSentence("Ilse Varno directs the observatory.", (1,), "supported",
                       (Support(1, "Observatory director Ilse Varno said the comet was seen.", 140, 197, 0.9, 0.8),)),
        AnswerSentence("It cost 31 million crowns.", (2,), "unsupported"),
    )
    return Answer(question, question, "Ilse Varno directs the observatory [1]. It cost 31 million crowns [2].",
                  sentences, cites, lead="Ilse Varno", lead_citation=1, filters=Filters(outlets=("Kell Science Weekly",)),
                  today=date(2024, 4, 10))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "chats.sqlite3"


# -- schema and migrations ------------------------------------------------------------------------


@pytest.mark.unit
def test_an_empty_file_is_migrated_to_the_current_schema_in_wal_mode(path):
    path.touch()
    ChatStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {r[1] for r in db.execute("PRAGMA table_info(turns)")}
    assert {"question", "answer", "sentences", "sources", "settings", "filters", "rating", "comment"} <= columns


@pytest.mark.unit
def test_a_version_1_file_is_migrated_and_keeps_its_turns(path):
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)  # a file written by the first schema: no feedback columns
    db.execute("INSERT INTO chats (owner, name, created, updated) VALUES ('', 'old', 1.0, 1.0)")
    db.execute("INSERT INTO turns (chat_id, position, created, question, answer, refused, sentences, sources, "
               "settings, filters, full_answer) VALUES (1, 1, 1.0, 'Who won?', 'Ana won [1].', 0, '[]', '[]', '{}', "
               "'{}', '{}')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with ChatStore(path) as store:
        assert store.history("old") == [("user", "Who won?"), ("assistant", "Ana won [1].")]
        store.feedback("old", 1, "down", "wrong person")
        assert store.export_json("old")["turns"][0]["feedback"]["comment"] == "wrong person"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.unit
def test_a_newer_schema_is_refused_and_left_alone(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(ChatStoreError, match=r"schema version 3, newer than this newsrag's 2.*left as it is"):
        ChatStore(path)
    assert path.read_bytes() == before


@pytest.mark.unit
def test_a_damaged_file_is_named_and_left_alone(path):
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ChatStoreError, match=r"chats.sqlite3 is damaged .*move it aside"):
        ChatStore(path)
    assert path.read_bytes() == b"this is not sqlite at all" * 100


@pytest.mark.unit
def test_a_locked_file_gives_a_message_after_the_busy_timeout(path, monkeypatch):
    ChatStore(path).close()
    monkeypatch.setattr(chats_module, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store = ChatStore(path)
        with pytest.raises(ChatStoreError, match="locked by another process"):
            store.append_turn("x", answer())
    finally:
        holder.execute("ROLLBACK")
    store.append_turn("x", answer())  # free again: the same store works
    assert len(store.history("x")) == 2


@pytest.mark.unit
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_file_gives_a_message(path):
    ChatStore(path).close()
    path.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        with pytest.raises(ChatStoreError, match="cannot be written|cannot be used"):
            ChatStore(path).append_turn("x", answer())
    finally:
        path.parent.chmod(0o755)


@pytest.mark.unit
@pytest.mark.parametrize(("message", "said"), [
    ("attempt to write a readonly database", "cannot be written"),
    ("database is locked", "locked by another process"),
    ("database or disk is full", "the disk is full"),
    ("database disk image is malformed", "is damaged"),
])
def test_sqlite_failures_are_named(path, message, said):
    error = ChatStore(path)._error(sqlite3.OperationalError(message))
    assert str(error).startswith(f"The chats database {path} ") and said in str(error)


@pytest.mark.unit
def test_two_connections_writing_at_once_lose_nothing(path):
    ChatStore(path).close()
    errors: list[BaseException] = []

    def write(who: str) -> None:
        try:
            with ChatStore(path) as store:  # its own connection, as another process would have
                for i in range(15):
                    store.append_turn("shared", answer(f"{who} question {i}?"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(who,)) for who in ("cli", "ui")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with ChatStore(path) as store:
        turns = store.export_json("shared")["turns"]
    assert [t["turn"] for t in turns] == list(range(1, 31))
    assert sorted(t["question"] for t in turns) == sorted(f"{w} question {i}?" for w in ("cli", "ui") for i in range(15))


@pytest.mark.unit
def test_the_default_file_has_a_folder_of_its_own_so_asking_leaves_the_index_folder_alone(tmp_path):
    from rag.config import PathsSettings, Settings

    settings = Settings(paths=PathsSettings(index_dir=tmp_path / "index"), base_dir=tmp_path)
    assert settings.chats_path == tmp_path / "index" / "chats" / "chats.sqlite3"
    assert settings.replace(chats={"path": "elsewhere.db"}).chats_path == tmp_path / "elsewhere.db"
    ChatStore(settings.chats_path).close()
    before = os.stat(settings.index_dir)
    with ChatStore(settings.chats_path) as store:  # -wal and -shm are made and removed beside the file
        store.append_turn("x", answer())
    after = os.stat(settings.index_dir)
    assert (after.st_mtime_ns, after.st_ctime_ns) == (before.st_mtime_ns, before.st_ctime_ns)


# -- chats ------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_owners_see_only_their_own_chats(path):
    alice, bob = ChatStore(path, owner="alice"), ChatStore(path, owner="bob")
    alice.append_turn("trip", answer())
    assert [c.name for c in alice.list_chats()] == ["trip"]
    assert bob.list_chats() == [] and bob.history("trip") == []
    for action in (lambda: bob.export_json("trip"), lambda: bob.delete("trip"), lambda: bob.rename("trip", "mine"),
                   lambda: bob.feedback("trip", 1, "down")):
        with pytest.raises(InputError, match="No saved chat named 'trip'"):
            action()
    bob.append_turn("trip", answer("Bob's own question?"))  # the same name, another owner: another chat
    assert alice.history("trip")[0] == ("user", "Who directs the observatory?")
    assert bob.history("trip")[0] == ("user", "Bob's own question?")
    assert alice.feedback_rows() == [] and bob.feedback_rows() == []


@pytest.mark.unit
def test_list_rename_delete(path):
    store = ChatStore(path)
    store.append_turn("first", answer("A question much longer than the sixty characters a title keeps of it, really?"))
    store.append_turn("second", answer())
    listed = store.list_chats()
    assert [c.name for c in listed] == ["second", "first"]  # newest first
    assert listed[1].title.endswith("…") and len(listed[1].title) == 60 and listed[1].turns == 1
    with pytest.raises(InputError, match="exists already"):
        store.rename("first", "second")
    store.rename("first", "renamed")
    assert store.history("renamed") and not store.exists("first")
    store.delete("renamed")
    assert [c.name for c in store.list_chats()] == ["second"]
    with pytest.raises(InputError, match="No saved chat"):
        store.delete("renamed")


@pytest.mark.unit
def test_a_turn_keeps_everything_and_the_history_is_the_conversation(path):
    store = ChatStore(path)
    store.append_turn("c", answer(), {"provider": "extractive", "top_k": 5})
    store.append_turn("c", answer("Who is Zorro?", refused=True))
    assert store.history("c") == [
        ("user", "Who directs the observatory?"),
        ("assistant", "Ilse Varno directs the observatory [1]. It cost 31 million crowns [2]."),
        ("user", "Who is Zorro?"),
        ("assistant", "I could not find this in the indexed articles. The indexed articles never mention “Zorro”."),
    ]
    first, second = store.export_json("c")["turns"]
    assert [s["verdict"] for s in first["sentences"]] == ["supported", "unsupported"]
    source = first["sources"][0]
    assert (source["article_id"], source["title"], source["outlet"], source["published"], source["url"]) == (
        "a1", "New observatory on Mount Kell", "Kell Science Weekly", "2024-04-05", "https://kell-science.example/comet")
    assert source["quotes"] == [{"sentence": "Observatory director Ilse Varno said the comet was seen.", "start": 140,
                                 "end": 197, "verdict": "supported"}]
    assert first["settings"] == {"provider": "extractive", "top_k": 5}
    assert first["filters"]["outlets"] == ["Kell Science Weekly"]
    assert first["full_answer"]["lead"] == "Ilse Varno" and first["asked"]
    assert second["refused"] is True and second["full_answer"]["refusal"]["kind"] == "missing_terms"


@pytest.mark.unit
def test_markdown_export_has_markers_and_the_numbered_sources(path):
    store = ChatStore(path)
    store.append_turn("c", answer())
    store.feedback("c", 1, "up", "spot on")
    text = store.export_markdown("c")
    assert "## 1. Who directs the observatory?" in text
    assert "Ilse Varno directs the observatory [1]. It cost 31 million crowns [2]." in text
    assert ("1. New observatory on Mount Kell (Kell Science Weekly, 2024-04-05) https://kell-science.example/comet\n"
            "   > Observatory director Ilse Varno said the comet was seen.") in text
    assert "2. Glowfish Festival (unknown outlet, undated)" in text
    assert "Feedback: up (spot on)" in text


@pytest.mark.unit
def test_feedback_rows_load_as_eval_questions(path, tmp_path):
    store = ChatStore(path)
    store.append_turn("c", answer())
    store.append_turn("c", answer("How much did it cost?"))
    store.append_turn("c", answer("Who is Zorro?", refused=True))
    store.feedback("c", 2, "up")
    store.feedback("c", 3, "down", "Zorro is in the wire article")
    with pytest.raises(InputError, match="has no turn 4"):
        store.feedback("c", 4, "up")
    rows = store.feedback_rows()
    file = tmp_path / "feedback.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    up, down = load_questions(file)
    assert (up.question, up.history, up.answer, up.gold_urls, up.date) == (
        "How much did it cost?", ("Who directs the observatory?",), "Ilse Varno", ("https://kell-science.example/comet",),
        date(2024, 4, 10))
    assert (down.question, down.answer, len(down.history)) == ("Who is Zorro?", "", 2)
    assert rows[1]["rating"] == "down" and rows[1]["comment"] == "Zorro is in the wire article"
    assert rows[1]["given_refused"] is True and rows[0]["given_sources"][0]["quotes"]


# -- the CLI, end to end ---------------------------------------------------------------------------


def newsrag(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=600)


@pytest.mark.integration
def test_the_cli_saves_continues_exports_rates_and_deletes_a_chat(indexed, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{indexed.articles_dir}"\nindex_dir = "{indexed.index_dir}"\n'
                      f'[chats]\npath = "{tmp_path / "my-chats.db"}"\n')

    first = newsrag(config, "ask", "--chat", "x", "--json", "Who directs the observatory on Mount Kell?")
    assert first.returncode == 0, first.stderr
    assert "Ilse Varno" in json.loads(first.stdout)["text"] and "saved as turn 1 of chat 'x'" in first.stderr
    follow = newsrag(config, "ask", "--chat", "x", "--json", "How much did it cost?")
    assert follow.returncode == 0, follow.stderr
    data = json.loads(follow.stdout)
    assert "Mount Kell" in data["query"]  # only the saved first question names the observatory
    assert "31 million" in data["text"]

    listed = newsrag(config, "chats", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (chat,) = json.loads(listed.stdout)
    assert (chat["name"], chat["turns"], chat["title"]) == ("x", 2, "Who directs the observatory on Mount Kell?")

    folder = tmp_path / "folder"
    folder.mkdir()
    refused = newsrag(config, "chats", "export", "x", "--format", "md", "--out", str(folder))
    assert refused.returncode == 2 and "is a folder" in refused.stderr and "Traceback" not in refused.stderr
    markdown = newsrag(config, "chats", "export", "x", "--format", "md")
    assert markdown.returncode == 0, markdown.stderr
    assert "## 2. How much did it cost?" in markdown.stdout and "[1]" in markdown.stdout
    assert "https://kell-science.example/observatory-first-comet" in markdown.stdout
    assert "Kell Science Weekly, 2024-04-05" in markdown.stdout

    assert newsrag(config, "feedback", "x", "2", "up", "--comment", "right").returncode == 0
    feedback = tmp_path / "feedback.jsonl"
    exported = newsrag(config, "feedback", "export", "--out", str(feedback))
    assert exported.returncode == 0, exported.stderr
    (row,) = [json.loads(line) for line in feedback.read_text().splitlines()]
    assert row["history"] == ["Who directs the observatory on Mount Kell?"] and row["rating"] == "up"
    evaluated = newsrag(config, "eval", "--json", str(feedback))
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["questions"] == 1 and report["accuracy"] == 1.0 and report["hit1"] == 1.0

    assert newsrag(config, "chats", "delete", "x").returncode == 0
    missing = newsrag(config, "chats", "export", "x")
    assert missing.returncode == 2 and missing.stderr.strip() == ("newsrag: No saved chat named 'x': see "
                                                                  "`newsrag chats list`")


@pytest.mark.unit
def test_a_damaged_chats_file_never_breaks_ask_without_chat(tmp_path, monkeypatch, capsys):
    """``ask --chat`` names the damaged file (exit 1, no traceback); the store is not opened without --chat."""
    from rag import cli

    broken = tmp_path / "index" / "chats" / "chats.sqlite3"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"garbage" * 200)
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\nindex_dir = "{tmp_path / "index"}"\n')
    assert cli.main(["--config", str(config), "ask", "--chat", "x", "anything?"]) == 1
    assert "chats.sqlite3 is damaged" in capsys.readouterr().err
    opened: list[Path] = []
    monkeypatch.setattr(chats_module.ChatStore, "__init__", lambda self, *a, **k: opened.append(a[0]))
    monkeypatch.setattr("rag.service.ask", lambda *a, **k: iter(()))
    cli.main(["--config", str(config), "ask", "anything?"])
    assert opened == []


# -- the UI's side --------------------------------------------------------------------------------


@pytest.mark.unit
def test_a_saved_answer_comes_back_as_it_was_given(path):
    from rag.schema import answer_from_data, json_data

    given = answer()
    assert answer_from_data(json_data(given)) == given
    with ChatStore(path) as store:
        store.append_turn("trip", given)
        store.append_turn("trip", answer("Why?", refused=True))
        (one, first), (two, second) = store.answers("trip")
        assert (one, two) == (1, 2) and first == given and second.refused and second.refusal.missing == ("Zorro",)
        assert store.answers("not started") == []


@pytest.mark.unit
def test_the_ui_warns_and_keeps_answering_when_the_store_is_damaged(tmp_path, monkeypatch):
    from tests.conftest import make_settings
    from ui import chats as ui_chats

    settings = make_settings(tmp_path)
    settings.chats_path.parent.mkdir(parents=True)
    settings.chats_path.write_bytes(b"not a database at all" * 100)
    warnings: list[str] = []
    monkeypatch.setattr(ui_chats.gr, "Warning", warnings.append)

    class Stream:
        def stream(self, message, history, turns, *rest):
            yield [{"role": "user", "content": message}], "", [], {}, None
            yield [{"role": "user", "content": message}, {"role": "assistant", "content": "ok"}], "", [], {}, answer()

    chats = ui_chats.Chats(settings, Stream())
    steps = list(chats.chat("Who?", [], [], {}, "", "", None, "extractive", 5, "", {}, None))
    assert steps[-1][0][-1]["content"] == "ok" and steps[-1][5].startswith("chat-who-directs-")  # answered, unsaved
    assert steps[-1][6] == {} and "not saved" in warnings[0] and "damaged" in warnings[0]
    assert chats.open("trip", None)[0] == [] and "damaged" in warnings[1]
    assert chats.sidebar("trip", None)[0]["choices"] == [] and "damaged" in warnings[2]
