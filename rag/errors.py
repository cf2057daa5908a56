"""Domain errors: each carries a message a user can act on.

The CLI prints them and exits non-zero; the UI shows them as warnings. Anything
else that escapes is a bug and is logged with its traceback.
"""

from __future__ import annotations

import errno
import re


class NewsragError(Exception):
    """Base class for errors whose message is meant for the user."""


class ConfigError(NewsragError):
    """A setting is unknown, has the wrong type or an invalid value."""


class LoadError(NewsragError):
    """An article file could not be read or holds no article."""


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


class SaveError(NewsragError):
    """An article (pasted or uploaded) could not be saved into the articles folder."""


class DiskFullError(StoreError):
    """The disk holding the index has no space left (ENOSPC, EDQUOT, or SQLite's "database or disk is full")."""


class ReadOnlyIndexError(StoreError):
    """The index folder cannot be written (EROFS, EACCES, EPERM, or SQLite's "readonly database")."""


NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
# How Chroma (Rust) and SQLite word the same causes when they do not hand over an OSError.
_WORDED = (
    (re.compile(r"disk is full|\(code: 13\)|no space left", re.I), errno.ENOSPC),
    (re.compile(r"readonly database|read-only file system|\(code: 8\)", re.I), errno.EROFS),
    (re.compile(r"permission denied", re.I), errno.EACCES),
)
_NUMBERED = re.compile(r"os error (\d+)|\[Errno (\d+)\]")
INTACT = ("The index is as it was: articles indexed before stay complete, and nothing half-written counts "
          "(the next `newsrag ingest` finishes or undoes it).")


def disk_errno(exc: BaseException) -> int | None:
    """The errno behind ``exc`` when it (or anything in its cause/context chain) is a full disk or a
    write refused, whether raised as an OSError or only worded in a message; otherwise None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        number = current.errno if isinstance(current, OSError) else None
        if number is None:
            text = str(current)
            found = _NUMBERED.search(text)
            number = int(found.group(1) or found.group(2)) if found else None
            if number is None:
                number = next((n for pattern, n in _WORDED if pattern.search(text)), None)
        if number in NO_SPACE or number in READ_ONLY:
            return number
        current = current.__cause__ or current.__context__
    return None


def disk_error(exc: BaseException, folder: object) -> StoreError | None:
    """A DiskFullError or ReadOnlyIndexError naming ``folder`` when ``exc`` comes from a full disk or a
    folder that cannot be written, else None (the caller keeps its own message for other causes)."""
    number = disk_errno(exc)
    if number is None:
        return None
    name = errno.errorcode.get(number, str(number))
    if number in NO_SPACE:
        return DiskFullError(f"No space left on the disk that holds the index {folder} ({name}): free some space "
                             f"and run the same command again. {INTACT}")
    return ReadOnlyIndexError(f"The index folder {folder} cannot be written ({name}: read-only or not permitted): "
                              f"make it writable, or point [paths] index_dir elsewhere, and run the same command "
                              f"again. {INTACT}")


def disk_reason(exc: BaseException) -> str | None:
    """A short reason for a full disk or a refused write behind ``exc`` ("no space left on the disk
    (ENOSPC)", "the folder cannot be written (EROFS)"), else None."""
    number = disk_errno(exc)
    if number is None:
        return None
    name = errno.errorcode.get(number, str(number))
    return f"no space left on the disk ({name})" if number in NO_SPACE else f"the folder cannot be written ({name})"
