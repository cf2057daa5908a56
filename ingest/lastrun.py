"""The unchanged re-run: tell from a small file, without opening the index, that ingesting the same
files again would change nothing.

An ingest of files (:func:`ingest.index.ingest_paths`) that finishes cleanly writes a last-run file,
``index_dir/lastrun/<collection>.json`` (:mod:`rag.marker` says when it is written and deleted), of:

* the files it read, each stat'ed before it was read: device, inode, size, and modification and
  status-change times in nanoseconds. The status-change time (ctime) cannot be set back by a program, so
  an edit that keeps the size and restores the modification time still shows. A file changed less than
  ``RACY_SECONDS`` before the scan is recorded as unknown ("racily clean", as git calls it: a second
  write within the same timestamp tick would leave every field as it was), so the next run reads it
  again, and records it once it has settled;
* what decides the index besides the files: the settings of every section but those only questions
  use, a hash of newsrag's own source, the Python version, the folders the packages are installed in
  (an install or upgrade changes their times), and the day: a dateline without a year, or a date after
  the day of the run, is read relative to that day (:mod:`ingest.published`), so the first run of a
  new day reads every file again;
* the index as the run left it: the index folder's own times (every ingest, of any newsrag version,
  creates its marker there), the inode of each of Chroma's files and folders (Chroma's times change on
  every open, even to read), and each file of the lexical index (saved by renaming a whole new folder
  in, so a rebuild or any edit shows). A change written within the same clock tick as the run's end
  goes unseen (the index's own files are as new as the last-run file, so the racy rule cannot apply to them);
* the report a re-run would give: every article ``unchanged``, duplicates and failures as before.

:func:`unchanged` checks all of that with ``stat`` calls and one hash of newsrag's source, and returns the
report when nothing differs, importing neither Chroma nor the embedder nor numpy. Anything else,
a last-run file it cannot read included, gives None and the reason, and the caller runs the full ingest, which
checks and repairs everything as before. A Chroma server (``[store] mode = "http"``) can change without
this folder knowing, so it always takes the full path. Damage inside Chroma's own files is not looked for
here, as an unchanged full run did not look for it either (beyond failing to open the database).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import site
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ingest.files import SUPPORTED, discover
from rag import marker
from rag.config import SECTIONS, Settings
from rag.schema import ArticleReport, IngestReport, Outcome

log = logging.getLogger(__name__)

FORMAT = 1  # of the last-run file; one of another format is not used
RACY_SECONDS = 2.0  # a file changed this recently before its scan is not trusted (covers 1-2 s timestamp filesystems)
# settings sections an ingest of files never reads
QUESTION_ONLY = frozenset({"retrieve", "answer", "llm", "ui", "web", "feeds", "chats"})
TRANSIENT = ("-journal", "-wal", "-shm")  # SQLite's files that come and go while Chroma is open
RERUN_OUTCOMES: tuple[Outcome, ...] = ("unchanged", "duplicate", "failed")  # what a re-run of unchanged files reports

Stat = list[int]  # [device, inode, size, mtime_ns, ctime_ns]


def _stat(path: Path | str) -> Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


@dataclass(frozen=True)
class Scan:
    """The files an ingest of ``given`` reads, each stat'ed (before it is read) at ``taken_ns`` or later."""

    given: tuple[str, ...]  # the paths as given, ~ expanded
    existing: tuple[Path, ...]  # those that exist
    missing: tuple[Path, ...]  # those that do not (each reported as a failure)
    files: tuple[Path, ...]  # the article files found, as :func:`ingest.files.discover` names them
    stats: tuple[Stat | None, ...]
    taken_ns: int
    day: str  # the local date when the files were stat'ed, before any was read (ISO)
    prune: bool


def scan(paths: Sequence[str | Path], prune: bool = False) -> Scan:
    """Find the article files under ``paths`` and stat each one."""
    resolved = [Path(p).expanduser() for p in paths]
    existing = tuple(p for p in resolved if p.exists())
    files, _skipped = discover(existing, SUPPORTED)
    taken, day = time.time_ns(), date.today().isoformat()
    return Scan(tuple(str(p) for p in resolved), existing, tuple(p for p in resolved if not p.exists()), tuple(files),
                tuple(_stat(f) for f in files), taken, day, prune)


# -- what decides the index besides the files ---------------------------------------------------------------


@functools.cache
def _source_digest() -> str:
    """A hash of newsrag's library source (``rag/`` and ``ingest/``, code and data files): the code this process
    runs, so it is read once per process (the last-run check and the failed-files record both ask for it)."""
    digest = hashlib.sha256()
    for package in (Path(marker.__file__).parent, Path(__file__).parent):
        for path in sorted(package.rglob("*")):
            if path.suffix in (".py", ".txt") and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(package.parent)}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _packages() -> dict[str, Stat | None]:
    """The folders packages are installed in, with their times: installing, upgrading or removing any
    package (a reader, the model, Chroma, ONNX Runtime) adds or removes entries there."""
    return {folder: _stat(folder) for folder in [*site.getsitepackages(), site.getusersitepackages()]}


def _model_files(settings: Settings) -> dict[str, Stat | None]:
    """A configured embedding model folder's files (the bundled model is a package, covered by :func:`_packages`)."""
    if not settings.embed.model:
        return {}
    folder = Path(os.path.abspath(Path(settings.embed.model).expanduser()))
    try:
        return {str(p): _stat(p) for p in sorted(folder.iterdir())}
    except OSError:
        return {str(folder): None}


def key(settings: Settings, day: str) -> str:
    """One hash of everything besides the files that decides what an ingest on ``day`` (ISO) writes."""
    sections = {name: getattr(settings, name).model_dump(mode="json") for name in SECTIONS if name not in QUESTION_ONLY}
    parts = [FORMAT, sections, str(settings.index_dir), str(settings.articles_dir), _model_files(settings),
             _source_digest(), sys.version, _packages(), day]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# -- the index as the run left it -----------------------------------------------------------------------------


def _files_under(folder: Path) -> dict[str, Stat | None]:
    out: dict[str, Stat | None] = {}
    for top, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(top, name)
            out[path.relative_to(folder).as_posix()] = _stat(path)
    return out


def _entries(folder: Path) -> dict[str, list[int]]:
    """Device and inode of each entry of Chroma's folder, but SQLite's passing files."""
    out: dict[str, list[int]] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.endswith(TRANSIENT):
                    st = entry.stat(follow_symlinks=False)
                    out[entry.name] = [st.st_dev, st.st_ino]
    except OSError:
        return {}
    return out


STATE_PARTS = {"folder": "the index folder changed (another ingest ran?)", "chroma": "Chroma's files changed",
               "lexical": "the lexical index changed"}


def _index_state(index_dir: Path, lexical: Path, chroma: Path) -> dict[str, Any]:
    """The index's own files, as :data:`STATE_PARTS` names them, and where the lexical index and Chroma are."""
    folder = _stat(index_dir)
    return {"folder": folder and [folder[0], folder[1], folder[3], folder[4]], "chroma": _entries(chroma),
            "lexical": _files_under(lexical), "lexical_folder": str(lexical), "chroma_folder": str(chroma)}


# -- the last-run file --------------------------------------------------------------------------------------------


def location(settings: Settings) -> Path:
    """The last-run file of an index and collection."""
    return settings.index_dir / marker.LAST_RUN / f"{settings.store.collection}.json"


def rerun_items(reports: Iterable[ArticleReport]) -> list[list[Any]]:
    """What a run that finds these articles again, unchanged, reports: written articles become
    ``unchanged`` (with the same chunks and note), removed ones are gone, duplicates and failures stay."""
    return [[r.source, "unchanged" if r.outcome in ("added", "updated") else r.outcome, r.title, r.article_id, r.chunks,
             r.reason] for r in reports if r.outcome != "removed"]


def save(settings: Settings, found: Scan, reports: Sequence[ArticleReport], lexical: Path, chroma: Path,
         version: str) -> None:
    """Write the last-run file of a run that has just finished cleanly (its marker removed, the writer lock still
    held). A file that cannot be written is only a slower next run: logged, never raised."""
    if settings.store.mode != "embedded":
        return
    path = location(settings)
    racy = found.taken_ns - int(RACY_SECONDS * 1e9)
    try:
        path.parent.mkdir(exist_ok=True)  # before the index folder's times are read: creating it changes them
        payload = json.dumps({
            "format": FORMAT, "key": key(settings, found.day), "given": found.given, "prune": found.prune,
            "missing": [str(p) for p in found.missing],
            "files": [[str(f), s if s is not None and max(s[3], s[4]) < racy else None]
                      for f, s in zip(found.files, found.stats)],
            "index": _index_state(settings.index_dir, lexical, chroma), "version": version,
            "items": rerun_items(reports), "written": time.time(),
        })
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(hashlib.sha256(payload.encode()).hexdigest() + "\n" + payload)
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not write %s (%s): the next run checks every file again", path, exc)


def _read(path: Path) -> dict[str, Any]:
    """The last-run file's payload; ValueError saying what is wrong with it."""
    try:
        digest, _, payload = path.read_text().partition("\n")
    except FileNotFoundError:
        raise ValueError("no last-run file (no ingest of files has finished since the index last changed)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"the last-run file {path} cannot be read ({exc})") from None
    if hashlib.sha256(payload.encode()).hexdigest() != digest:
        raise ValueError(f"the last-run file {path} is damaged (digest mismatch)")
    data = json.loads(payload)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"the last-run file {path} is of another format")
    return data


def _difference(settings: Settings, paths: Sequence[str | Path], prune: bool) -> tuple[str, dict[str, Any]]:
    """Why the last-run file does not vouch for an ingest of ``paths`` now ("" when it does), and its payload."""
    if settings.store.mode != "embedded":
        return "the index is on a Chroma server, which can change without this folder knowing", {}
    if marker.read(settings.index_dir) is not None:
        return "the last ingest did not finish (or one is under way)", {}
    path = location(settings)
    try:
        data = _read(path)
    except ValueError as exc:
        return str(exc), {}
    if data["key"] != key(settings, date.today().isoformat()):
        return "the settings, newsrag's code, the installed packages or the day changed", data
    if prune and not data["prune"]:
        return "--prune, and the last run did not prune", data
    found = scan(paths, prune)
    if list(found.given) != data["given"]:
        return "other paths than the last run's", data
    if [str(p) for p in found.missing] != data["missing"]:
        return "a path appeared or went", data
    state = _index_state(settings.index_dir, Path(data["index"]["lexical_folder"]), Path(data["index"]["chroma_folder"]))
    for part, change in STATE_PARTS.items():
        if state[part] != data["index"][part]:
            return change, data
    recorded = data["files"]
    if [str(f) for f in found.files] != [f for f, _ in recorded]:
        return "files were added, removed or renamed", data
    for (name, before), now in zip(recorded, found.stats):
        if before is None:
            return f"{name} had changed just before the last run: read again to be sure", data
        if before != now:
            return f"{name} changed", data
    return "", data


def unchanged(paths: Sequence[str | Path], settings: Settings, prune: bool = False) -> tuple[IngestReport | None, str]:
    """The report of an ingest of ``paths`` when the last-run file shows that it would change nothing, else None
    and the reason (for the log). Takes milliseconds: see the module docstring for what it checks."""
    started = time.perf_counter()
    try:
        why, data = _difference(settings, paths, prune)
        if why:
            return None, why
        items = tuple(_item(row) for row in data["items"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        return None, f"the last-run file {location(settings)} does not hold what it should ({type(exc).__name__}: {exc})"
    except OSError as exc:  # a file of the check that cannot be read: the full path says what is wrong, if anything
        return None, f"cannot check ({exc})"
    return IngestReport(items, time.perf_counter() - started), ""


def _item(row: list[Any]) -> ArticleReport:
    source, outcome, title, article_id, chunks, reason = row
    if outcome not in RERUN_OUTCOMES:
        raise ValueError(f"an item is {outcome!r}")
    return ArticleReport(str(source), outcome, str(title), str(article_id), int(chunks), str(reason))
