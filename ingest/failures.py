"""Files that failed to load, remembered, so that a re-scan reads a failed file again only once it changes.

An ingest of files (:func:`ingest.index.ingest_paths`) records each whole file that failed, with its reason,
when, and its ``stat`` (device, inode, size, modification and status-change times in nanoseconds), in
``index_dir/failed/<collection>.json``. A bad line of a JSON Lines file is not a failed file: its good lines
are read every time. Invariants:

* A later ingest reports a remembered file as failed, with the same reason, without reading it, while its
  ``stat`` is the same and so is everything else that decides what loading does: :func:`ingest.lastrun.key`
  for no particular day (the settings, newsrag's code, the installed packages). Anything else reads it again.
* A failure that may pass on its own (``LoadError.transient``: the file could not be read, an extraction ran
  out of time, an unexpected error) is listed but never skipped; so is a file changed less than
  ``lastrun.RACY_SECONDS`` before it was stat'ed (a second write in the same clock tick would not show).
* A file read again forgets its entry; an entry whose file is gone is dropped by the next run.
* Written only by an ingest run, under its writer lock and before its last-run file; read at any time (the
  file is replaced whole). A file that cannot be read or written only means failed files are read again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest import lastrun
from ingest.files import source_name
from ingest.statefile import read_table, write_table
from rag.config import Settings
from rag.errors import LoadError

log = logging.getLogger(__name__)

FOLDER = "failed"
FORMAT = 1
CONSEQUENCE = "failed files will be read again"


@dataclass(frozen=True)
class Failure:
    """A file that failed the last time it was read."""

    source: str  # as ingest reports it: relative to the articles folder when inside it
    reason: str
    when: float  # Unix time of the run that read it


def location(settings: Settings) -> Path:
    return settings.index_dir / FOLDER / f"{settings.store.collection}.json"


def _read(settings: Settings) -> dict[str, Any]:
    return read_table(location(settings), FORMAT, "files", CONSEQUENCE)


def failures(settings: Settings) -> list[Failure]:
    """The files that failed the last time an ingest read them and are still there, by name."""
    root = settings.articles_dir
    out = []
    for source, entry in sorted(_read(settings).items()):
        path = Path(source) if os.path.isabs(source) else root / source
        try:
            if path.exists():
                out.append(Failure(source, str(entry["reason"]), float(entry["when"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out


class FailedFiles:
    """The remembered failures during one ingest run: :meth:`recall` before reading, :meth:`update` after."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key = lastrun.key(settings, "")
        self.entries = _read(settings)

    def _name(self, path: Path) -> str:
        return source_name(path, self.settings.articles_dir)

    def recall(self, found: lastrun.Scan) -> dict[Path, LoadError]:
        """The files of ``found`` that failed before and have not changed since: not to be read again."""
        out: dict[Path, LoadError] = {}
        for path, stat in zip(found.files, found.stats):
            entry = self.entries.get(self._name(path))
            if (isinstance(entry, dict) and stat is not None and entry.get("stat") == stat
                    and entry.get("key") == self.key):
                out[path] = LoadError(str(entry.get("reason", "failed before")))
        return out

    def update(self, found: lastrun.Scan, failed: Mapping[Path, LoadError]) -> None:
        """Remember the files of ``found`` that ``failed`` now, forget the others of it and the files gone."""
        racy = found.taken_ns - int(lastrun.RACY_SECONDS * 1e9)
        now = time.time()
        entries = {name: entry for name, entry in self.entries.items()
                   if (Path(name) if os.path.isabs(name) else self.settings.articles_dir / name).exists()}
        for path, stat in zip(found.files, found.stats):
            name = self._name(path)
            error = failed.get(path)
            if error is None:
                entries.pop(name, None)
                continue
            settled = stat is not None and max(stat[3], stat[4]) < racy and not error.transient
            before = entries.get(name)
            when = before.get("when", now) if isinstance(before, dict) and before.get("stat") == stat else now
            entries[name] = {"reason": str(error), "when": when, "stat": stat if settled else None, "key": self.key}
        if entries == self.entries:
            return
        if write_table(location(self.settings), FORMAT, "files", entries, CONSEQUENCE):
            self.entries = entries
