"""Domain errors: each carries a message a user can act on.

The CLI prints them and exits non-zero; the UI shows them as warnings. Anything
else that escapes is a bug and is logged with its traceback.
"""

from __future__ import annotations

import errno
import re


class NewsragError(Exception):
    """Base class for errors whose message is meant for the user."""


class InputError(NewsragError):
    """What the user typed or named cannot be used: a question, a flag, a date, a questions file. The CLI exits 2."""


class ConfigError(NewsragError):
    """A setting is unknown, has the wrong type or an invalid value. The CLI exits 2."""


class LoadError(NewsragError):
    """An article file could not be read or holds no article. ``transient``: it may pass on its own, unchanged
    (the file could not be read, an extraction ran out of time), so the file is read again next time."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StoreError(NewsragError):
    """The index (Chroma) cannot be opened, read or written."""


class EmptyIndexError(NewsragError):
    """A question was asked before any article was indexed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "No articles indexed yet: run `newsrag ingest data/articles` (or add articles in the UI's Index tab)."
        )


class ModelError(NewsragError):
    """A language model could not be loaded or reached, or failed mid-answer."""


class ChatStoreError(NewsragError):
    """The saved-chats database cannot be opened, read or written (damaged, locked, read-only, newer schema)."""


class SaveError(NewsragError):
    """An article (pasted or uploaded) could not be saved into the articles folder."""


class DiskFullError(StoreError):
    """The disk holding the index has no space left (ENOSPC, EDQUOT, or SQLite's "database or disk is full")."""


class ReadOnlyIndexError(StoreError):
    """The index folder cannot be written (EROFS, EACCES, EPERM, or SQLite's "readonly database")."""


class IndexBusyError(StoreError):
    """Another process holds the index's database (SQLite's "database is locked")."""


# The causes newsrag names, by errno name (or SQLite's), and what each means.
_KINDS = {"ENOSPC": "full", "EDQUOT": "full", "EROFS": "read-only", "EACCES": "read-only", "EPERM": "read-only",
          "SQLITE_BUSY": "busy", "EMFILE": "files", "ENFILE": "files"}
# How Chroma (Rust) and SQLite word the same causes when they do not hand over an OSError.
_WORDED = (
    (re.compile(r"disk is full|\(code: 13\)|no space left", re.I), "ENOSPC"),
    (re.compile(r"readonly database|read-only file system|\(code: 8\)", re.I), "EROFS"),
    (re.compile(r"permission denied", re.I), "EACCES"),
    (re.compile(r"database is locked|\(code: 5\)", re.I), "SQLITE_BUSY"),
    (re.compile(r"too many open files", re.I), "EMFILE"),
)
_NUMBERED = re.compile(r"os error (\d+)|\[Errno (\d+)\]")
INTACT = ("The index is as it was: articles indexed before stay complete, and nothing half-written counts "
          "(the next `newsrag ingest` finishes or undoes it).")


def cause(exc: BaseException) -> str | None:
    """The name of what went wrong behind ``exc`` (an errno name such as "ENOSPC", or "SQLITE_BUSY") when it
    (or anything in its cause/context chain) is a full disk, a refused write, a busy database or too many
    open files, whether raised as an OSError or only worded in a message; otherwise None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        number = current.errno if isinstance(current, OSError) else None
        text = str(current)
        found = _NUMBERED.search(text) if number is None else None
        if found:
            number = int(found.group(1) or found.group(2))
        name = errno.errorcode.get(number) if number is not None else None
        if name is None:
            name = next((n for pattern, n in _WORDED if pattern.search(text)), None)
        if name in _KINDS:
            return name
        current = current.__cause__ or current.__context__
    return None


def index_error(exc: BaseException, folder: object) -> StoreError | None:
    """The typed error, naming ``folder``, for an ``exc`` that :func:`cause` recognises, else None (the
    caller keeps its own message for other causes). None of these means the index is broken."""
    name = cause(exc)
    kind = _KINDS.get(name or "")
    if kind == "full":
        return DiskFullError(f"No space left on the disk that holds the index {folder} ({name}): free some space "
                             f"and run the same command again. {INTACT}")
    if kind == "read-only":
        return ReadOnlyIndexError(f"The index folder {folder} cannot be written ({name}: read-only or not "
                                  "permitted): make it writable, or point [paths] index_dir elsewhere, and run the "
                                  f"same command again. {INTACT}")
    if kind == "busy":
        return IndexBusyError(f"The index at {folder} is busy: another process is writing to it ({name}). Run "
                              f"the same command again when it has finished. {INTACT}")
    if kind == "files":
        return StoreError(f"Too many open files ({name}) while using the index at {folder}: raise the limit "
                          f"(`ulimit -n`) or close other programs, and run the same command again. {INTACT}")
    return None


def disk_reason(exc: BaseException) -> str | None:
    """A short reason for a full disk or a refused write behind ``exc`` ("no space left on the disk
    (ENOSPC)", "the folder cannot be written (EROFS)"), else None."""
    name = cause(exc)
    kind = _KINDS.get(name or "")
    if kind == "full":
        return f"no space left on the disk ({name})"
    return f"the folder cannot be written ({name})" if kind == "read-only" else None
