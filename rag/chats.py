"""Saved conversations: one SQLite file the UI server and the CLI share (``[chats] path``).

Invariants:

* The schema version is SQLite's ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes a file from version ``i`` to
  ``i + 1`` and all pending ones run in one write transaction when the store opens. A file written by a newer
  newsrag (a version above ``len(MIGRATIONS)``) is refused and left as it is.
* Several processes may use one file at once: WAL journal, SQLite's own locks, a busy timeout, and every
  write in a ``BEGIN IMMEDIATE`` transaction (a turn's position is read and written under the same lock).
* Every call is scoped by ``owner`` (the logged-in user name, "" for none): one owner never sees, exports,
  renames or deletes another's chats. Chat names are unique per owner.
* A turn keeps everything: the question, the answer text with its [n] markers, the sentences with their
  verdicts, the sources (article id, title, outlet, date, URL, the quoted sentences and their spans), the
  settings and filters used and the time; the whole answer as JSON besides. Feedback (up or down and a
  comment) is stored on the turn.
* SQLite failures become :class:`ChatStoreError` with a message naming the file and what to do.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rag.errors import ChatStoreError, InputError, cause
from rag.outputs import source_lines
from rag.schema import Answer, answer_from_data, json_data

if TYPE_CHECKING:
    from rag.config import Settings

BUSY_TIMEOUT_S = 10.0
TITLE_CHARS = 60
Rating = Literal["up", "down"]


def _v1(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE chats (
        id INTEGER PRIMARY KEY, owner TEXT NOT NULL DEFAULT '', name TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL, UNIQUE (owner, name))""")
    db.execute("""CREATE TABLE turns (
        id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        position INTEGER NOT NULL, created REAL NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
        refused INTEGER NOT NULL, sentences TEXT NOT NULL, sources TEXT NOT NULL, settings TEXT NOT NULL,
        filters TEXT NOT NULL, full_answer TEXT NOT NULL, UNIQUE (chat_id, position))""")


def _v2(db: sqlite3.Connection) -> None:
    """Feedback on an answer: up or down, a comment, when."""
    db.execute("ALTER TABLE turns ADD COLUMN rating TEXT")
    db.execute("ALTER TABLE turns ADD COLUMN comment TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE turns ADD COLUMN rated REAL")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class ChatInfo:
    name: str
    title: str  # the first question, truncated
    turns: int
    created: float  # Unix time
    updated: float


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def snapshot(settings: Settings, provider: str | None = None, top_k: int | None = None,
             today: str | None = None) -> dict[str, Any]:
    """What a saved turn records of how it was answered (the CLI and the UI save the same)."""
    return {"provider": provider or settings.llm.provider, "top_k": top_k or settings.retrieve.top_k, "today": today,
            **{name: getattr(settings, name).model_dump(mode="json") for name in ("embed", "retrieve", "answer", "llm")}}


def sources_of(answer: Answer) -> list[dict[str, Any]]:
    """The numbered sources of an answer, each with the sentences quoted from it and their spans."""
    out = []
    for c in answer.citations:
        quotes = [{"sentence": s.sentence, "start": s.start, "end": s.end, "verdict": sent.verdict}
                  for sent in answer.sentences for s in sent.support if s.citation == c.number]
        out.append({"number": c.number, "article_id": c.article_id, "title": c.title, "outlet": c.outlet,
                    "published": json_data(c.published), "url": c.url, "source": c.source, "quotes": quotes})
    return out


class ChatStore:
    """The saved conversations of one ``owner`` in the SQLite file at ``path`` (created with its folder)."""

    def __init__(self, path: Path, owner: str = "") -> None:
        self.path = Path(path)
        self.owner = owner
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from exc
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._db.execute("PRAGMA foreign_keys = ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ChatStoreError(f"The chats database {self.path} has schema version {version}, newer than this "
                                     f"newsrag's {SCHEMA_VERSION}: upgrade newsrag, or point [chats] path elsewhere. "
                                     "The file was left as it is.")
            if version < SCHEMA_VERSION:
                self._migrate()
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            self._db.close()
            raise self._error(exc) from exc
        except ChatStoreError:
            self._db.close()
            raise

    def _migrate(self) -> None:
        with self._write():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]  # another process may have done it
            for step in MIGRATIONS[version:]:
                step(self._db)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ChatStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, exc: BaseException) -> ChatStoreError:
        name = cause(exc)
        if name in ("EROFS", "EACCES", "EPERM"):
            why = "cannot be written (read-only or not permitted): make it writable or point [chats] path elsewhere"
        elif name == "SQLITE_BUSY":
            why = "is locked by another process: try again when it has finished"
        elif name in ("ENOSPC", "EDQUOT"):
            why = "cannot grow: the disk is full"
        elif isinstance(exc, sqlite3.DatabaseError) and ("not a database" in str(exc) or "malformed" in str(exc)):
            why = "is damaged (not a SQLite database): move it aside and a new one is started"
        else:
            why = f"cannot be used ({type(exc).__name__}: {exc})"
        return ChatStoreError(f"The chats database {self.path} {why}.")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the write lock at once (waits up to the busy timeout)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _read(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    # -- chats ----------------------------------------------------------------------------------------

    def _chat_id(self, name: str) -> int | None:
        rows = self._read("SELECT id FROM chats WHERE owner = ? AND name = ?", self.owner, name)
        return int(rows[0]["id"]) if rows else None

    def _require(self, name: str) -> int:
        chat = self._chat_id(name)
        if chat is None:
            raise InputError(f"No saved chat named {name!r}: see `newsrag chats list`")
        return chat

    def exists(self, name: str) -> bool:
        return self._chat_id(name) is not None

    def create(self, name: str) -> None:
        """A new, empty chat (an error if the name is taken or blank)."""
        name = _valid_name(name)
        now = time.time()
        try:
            with self._write():
                self._db.execute("INSERT INTO chats (owner, name, created, updated) VALUES (?, ?, ?, ?)",
                                 (self.owner, name, now, now))
        except ChatStoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise InputError(f"A chat named {name!r} exists already") from None
            raise

    def list_chats(self) -> list[ChatInfo]:
        """This owner's chats, the most recently used first."""
        rows = self._read("""SELECT c.name, c.created, c.updated, COUNT(t.id) AS turns,
                                    (SELECT question FROM turns WHERE chat_id = c.id ORDER BY position LIMIT 1) AS first
                             FROM chats c LEFT JOIN turns t ON t.chat_id = c.id WHERE c.owner = ?
                             GROUP BY c.id ORDER BY c.updated DESC, c.id DESC""", self.owner)
        return [ChatInfo(r["name"], _title(r["first"] or ""), r["turns"], r["created"], r["updated"]) for r in rows]

    def rename(self, old: str, new: str) -> None:
        chat = self._require(old)
        new = _valid_name(new)
        if self.exists(new):
            raise InputError(f"A chat named {new!r} exists already")
        with self._write():
            self._db.execute("UPDATE chats SET name = ? WHERE id = ?", (new, chat))

    def delete(self, name: str) -> None:
        chat = self._require(name)
        with self._write():
            self._db.execute("DELETE FROM turns WHERE chat_id = ?", (chat,))
            self._db.execute("DELETE FROM chats WHERE id = ?", (chat,))

    # -- turns ----------------------------------------------------------------------------------------

    def append_turn(self, name: str, answer: Answer, settings: dict[str, Any] | None = None) -> int:
        """Save a question and its answer at the end of chat ``name`` (started if new); the turn's number (1, 2, ...).
        ``settings`` is the snapshot of what was used (provider, top_k, today, the sections)."""
        name = _valid_name(name)
        now = time.time()
        with self._write():
            row = self._db.execute("SELECT id FROM chats WHERE owner = ? AND name = ?", (self.owner, name)).fetchone()
            if row is None:
                chat = self._db.execute("INSERT INTO chats (owner, name, created, updated) VALUES (?, ?, ?, ?)",
                                        (self.owner, name, now, now)).lastrowid
            else:
                chat = row["id"]
                self._db.execute("UPDATE chats SET updated = ? WHERE id = ?", (now, chat))
            position = self._db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM turns WHERE chat_id = ?",
                                        (chat,)).fetchone()[0]
            answer_text = answer.text + (f" {answer.refusal.reason}" if answer.refusal and answer.refusal.reason else "")
            self._db.execute(
                """INSERT INTO turns (chat_id, position, created, question, answer, refused, sentences, sources,
                                      settings, filters, full_answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (chat, position, now, answer.question, answer_text, int(answer.refused),
                 _dumps(json_data(answer.sentences)), _dumps(sources_of(answer)), _dumps(json_data(settings or {})),
                 _dumps(json_data(answer.filters)), _dumps({**json_data(answer), "refused": answer.refused})))
        return int(position)

    def _turns(self, name: str) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM turns WHERE chat_id = ? ORDER BY position", self._require(name))

    def history(self, name: str) -> list[tuple[str, str]]:
        """The chat as (role, text) turns, as :func:`rag.service.ask` takes them; [] for a chat not started."""
        if not self.exists(name):
            return []
        out: list[tuple[str, str]] = []
        for row in self._turns(name):
            out += [("user", row["question"]), ("assistant", row["answer"])]
        return out

    def answers(self, name: str) -> list[tuple[int, Answer]]:
        """The saved answers of chat ``name`` with their turn numbers, to show again; [] for a chat not started."""
        if not self.exists(name):
            return []
        return [(int(row["position"]), answer_from_data(json.loads(row["full_answer"]))) for row in self._turns(name)]

    def feedback(self, name: str, turn: int, rating: Rating, comment: str = "") -> None:
        """Thumbs up or down (and a comment) on the answer of turn ``turn`` (1 = the first) of chat ``name``."""
        if rating not in ("up", "down"):
            raise InputError(f"feedback must be up or down, not {rating!r}")
        chat = self._require(name)
        with self._write():
            changed = self._db.execute("UPDATE turns SET rating = ?, comment = ?, rated = ? WHERE chat_id = ? AND "
                                       "position = ?", (rating, comment, time.time(), chat, turn)).rowcount
        if not changed:
            raise InputError(f"Chat {name!r} has no turn {turn} (it has {len(self._turns(name))})")

    # -- export ---------------------------------------------------------------------------------------

    def export_json(self, name: str) -> dict[str, Any]:
        """Everything stored about chat ``name``."""
        chat = self._read("SELECT * FROM chats WHERE id = ?", self._require(name))[0]
        turns = []
        for row in self._turns(name):
            turns.append({"turn": row["position"], "asked": _iso(row["created"]), "question": row["question"],
                          "answer": row["answer"], "refused": bool(row["refused"]),
                          "sentences": json.loads(row["sentences"]), "sources": json.loads(row["sources"]),
                          "settings": json.loads(row["settings"]), "filters": json.loads(row["filters"]),
                          "feedback": ({"rating": row["rating"], "comment": row["comment"], "at": _iso(row["rated"])}
                                       if row["rating"] else None),
                          "full_answer": json.loads(row["full_answer"])})
        return {"name": chat["name"], "owner": chat["owner"], "created": _iso(chat["created"]),
                "updated": _iso(chat["updated"]), "schema_version": SCHEMA_VERSION, "turns": turns}

    def export_markdown(self, name: str) -> str:
        """The chat for reading: each question, its answer with [n] markers, its numbered sources."""
        data = self.export_json(name)
        lines = [f"# {data['name']}", "", f"Saved by newsrag, {data['created']} to {data['updated']}.", ""]
        for turn in data["turns"]:
            lines += [f"## {turn['turn']}. {turn['question']}", "", turn["answer"], ""]
            if turn["sources"]:
                lines += ["Sources:", ""]
                for s in turn["sources"]:
                    quote = s["quotes"][0]["sentence"] if s["quotes"] else ""
                    lines += source_lines(s["number"], s["title"], s["outlet"], s["published"], s["url"], quote)
                lines.append("")
            if turn["feedback"]:
                fb = turn["feedback"]
                lines += [f"Feedback: {fb['rating']}" + (f" ({fb['comment']})" if fb["comment"] else ""), ""]
        return "\n".join(lines).rstrip() + "\n"

    def feedback_rows(self) -> list[dict[str, Any]]:
        """Every rated answer of this owner as a question for ``newsrag eval`` (:func:`rag.evaluate.load_questions`):
        ``question`` and ``history`` (the earlier questions of its chat); for a thumbs up, the answer given as
        the expected ``answer`` and its sources' URLs as ``gold_urls``; for a thumbs down no ``answer`` (write the
        right one in before evaluating, else eval takes it as a question to refuse). What was answered, its
        sources and the verdict are kept in ``given_answer``, ``given_sources``, ``rating`` and ``comment``,
        fields eval ignores."""
        rows = self._read("""SELECT c.name, t.* FROM turns t JOIN chats c ON c.id = t.chat_id
                             WHERE c.owner = ? AND t.rating IS NOT NULL ORDER BY c.name, t.position""", self.owner)
        out = []
        for row in rows:
            earlier = self._read("SELECT question FROM turns WHERE chat_id = ? AND position < ? ORDER BY position",
                                 row["chat_id"], row["position"])
            full = json.loads(row["full_answer"])
            sources = json.loads(row["sources"])
            item: dict[str, Any] = {"id": f"{row['name']}#{row['position']}", "question": row["question"],
                                    "history": [r["question"] for r in earlier], "topic": f"feedback-{row['rating']}"}
            if full.get("today"):
                item["date"] = full["today"]
            if row["rating"] == "up" and not row["refused"]:
                item["answer"] = full.get("lead") or " ".join(s["text"] for s in json.loads(row["sentences"]))
                item["gold_urls"] = [s["url"] for s in sources if s["url"]]
            item.update(given_answer=row["answer"], given_refused=bool(row["refused"]), given_sources=sources,
                        rating=row["rating"], comment=row["comment"], chat=row["name"], turn=row["position"])
            out.append(item)
        return out


def _valid_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InputError("A chat name cannot be blank")
    return name


def _title(question: str) -> str:
    question = " ".join(question.split())
    return question if len(question) <= TITLE_CHARS else question[: TITLE_CHARS - 1].rstrip() + "…"


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
