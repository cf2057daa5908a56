"""A folder of immutable files committed by one ``meta.json``: the layout of the lexical index
(:mod:`rag.lexical`) and the story table (:mod:`rag.stories`).

Files are written under new names first; :func:`commit` then replaces ``meta.json`` in one step, which is the
moment they count, so a kill at any point leaves the previous commit whole. ``meta.json`` carries a digest of
its other fields, so a hand edit or a torn copy is seen. Files no commit names are left by a killed save or
replaced by a merge: :func:`remove_unnamed` clears them after the next commit. So a reader in another process
can find a file its ``meta.json`` names gone; :func:`raise_if_replaced` tells that (a newer commit: read it)
from damage, and :func:`read_newest` reads again until a commit stays put.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
READ_ATTEMPTS = 10  # reads of a folder that newer commits keep replacing before the reader gives up


def commit(folder: Path, meta: Mapping[str, Any]) -> None:
    """Replace ``meta.json`` in one step: the moment the files written before it become the index."""
    tmp = folder / "meta.json.tmp"
    with tmp.open("w") as out:
        out.write(json.dumps({**meta, "digest": meta_digest(meta)}))
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(folder / "meta.json")


def meta_digest(meta: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True).encode()).hexdigest()


def remove_unnamed(folder: Path, named: Collection[str], what: str) -> None:
    """Remove the files of ``folder`` that the commit does not name (``what`` names the folder in a log line
    when one cannot be removed)."""
    for path in folder.iterdir():
        if path.name in named:
            continue
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            log.info("could not remove %s from %s: %s", path, what, exc)


class Replaced(Exception):
    """A file the ``meta.json`` being read names was removed by a newer commit (another process's merge)."""


def raise_if_replaced(folder: Path, text: str, what: str) -> None:
    """Raise Replaced if ``meta.json`` no longer holds ``text``, the commit read when ``what`` was found missing."""
    try:
        now = (folder / "meta.json").read_text()
    except OSError:
        now = ""
    if now != text:
        raise Replaced(what)


def read_newest(read: Callable[[], T]) -> T | Replaced:
    """``read()``, again each time it raises Replaced (a newer commit removed a file the one it read names), up to
    :data:`READ_ATTEMPTS` times; the last Replaced when the folder kept changing."""
    replaced = Replaced("")
    for _ in range(READ_ATTEMPTS):
        try:
            return read()
        except Replaced as exc:
            replaced = exc
    return replaced
