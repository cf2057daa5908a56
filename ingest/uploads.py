"""Files a person uploads (or pastes) become files in the articles folder, safely.

A name is reduced to a plain file name (no folders, no ``..``, no hidden files),
so nothing can be written outside ``<articles_dir>/uploads``; a different file
of the same name gets a numbered name instead of overwriting it. Type, size and
count limits come from ``[ui]``. An upload that failed to index is listed (:func:`failed_uploads`) and can
be removed (:func:`remove_upload`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingest.decode import repair
from ingest.failures import Failure, failures
from ingest.files import SUPPORTED
from rag.config import Settings
from rag.errors import InputError, SaveError, disk_reason

UPLOAD_FOLDER = "uploads"


@dataclass(frozen=True)
class Saved:
    name: str  # as uploaded
    path: Path | None  # where it was saved; None when rejected
    reason: str = ""


def safe_name(name: str) -> str:
    """A plain, harmless file name: the last path part, safe characters, no leading dot."""
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w\-]+", "_", stem).strip("._-")[:100] or "article"
    suffix = re.sub(r"[^\w]+", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def _target(folder: Path, name: str, source: Path) -> Path:
    """``folder/name``, or ``folder/name-2`` ... when a different file already has that name."""
    stem, suffix = os.path.splitext(name)
    candidate = folder / name
    n = 1
    while candidate.exists() and not _same_bytes(candidate, source):
        n += 1
        candidate = folder / f"{stem}-{n}{suffix}"
    return candidate


def failed_uploads(settings: Settings) -> list[Failure]:
    """The uploaded files that failed the last time they were read, with the reason (see :mod:`ingest.failures`)."""
    return [f for f in failures(settings) if f.source.startswith(f"{UPLOAD_FOLDER}/")]


def remove_upload(source: str, settings: Settings) -> None:
    """Delete an uploaded file, named as ingest reports it (``uploads/NAME``); only a file of the uploads folder.
    A removed file that had indexed articles loses them at the next re-scan (with prune)."""
    folder = (settings.articles_dir / UPLOAD_FOLDER).resolve()
    path = settings.articles_dir / source
    if path.parent.resolve() != folder or not source.startswith(f"{UPLOAD_FOLDER}/"):
        raise InputError(f"{source} is not an uploaded file: only files in {folder} can be removed here.")
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SaveError(f"{source} could not be removed: {disk_reason(exc) or exc.strerror or exc}") from exc


def save_uploads(files: Sequence[tuple[str, Path]], settings: Settings) -> list[Saved]:
    """Copy uploaded (name, temporary path) pairs into the articles folder; each is saved or rejected."""
    folder = (settings.articles_dir / UPLOAD_FOLDER).resolve()
    limit = int(settings.ui.max_upload_mb * 1_000_000)
    out: list[Saved] = []
    for index, (name, temp) in enumerate(files):
        shown = Path(name or "").name or "(unnamed)"
        if index >= settings.ui.max_upload_files:
            out.append(Saved(shown, None, f"over the limit of {settings.ui.max_upload_files} files per upload "
                                          "([ui] max_upload_files)"))
            continue
        clean = safe_name(shown)
        suffix = Path(clean).suffix.lower()
        if suffix not in SUPPORTED:
            out.append(Saved(shown, None, f"unsupported file type {suffix or '(none)'}: "
                                          f"expected one of {', '.join(sorted(SUPPORTED))}"))
            continue
        try:
            size = Path(temp).stat().st_size
        except OSError as exc:
            out.append(Saved(shown, None, f"upload unreadable: {exc.strerror or exc}"))
            continue
        if size > limit:
            out.append(Saved(shown, None, f"file is {size / 1e6:.1f} MB, over the {settings.ui.max_upload_mb:g} MB "
                                          "upload limit ([ui] max_upload_mb)"))
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = _target(folder, clean, Path(temp))
            if target.resolve().parent != folder:  # cannot happen after safe_name; checked all the same
                out.append(Saved(shown, None, "refused: the name points outside the articles folder"))
                continue
            if not target.exists():
                with _temporary(folder, ".upload-") as tmp_path:
                    shutil.copyfile(temp, tmp_path)
                    tmp_path.replace(target)
        except OSError as exc:
            out.append(Saved(shown, None, f"not saved: {disk_reason(exc) or exc.strerror or exc}"))
            continue
        out.append(Saved(shown, target))
    return out


@contextlib.contextmanager
def _temporary(folder: Path, prefix: str, suffix: str = "") -> Iterator[Path]:
    """A new empty file in ``folder``, removed on leaving unless it was moved away: a full disk or a
    refused write leaves no half-written file behind."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=prefix, suffix=suffix, delete=False) as handle:
        path = Path(handle.name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def save_pasted(title: str, text: str, settings: Settings, *, published: date | None = None, outlet: str = "",
                url: str = "") -> Path:
    """Write a pasted article as a Markdown file with front matter, so it is re-indexed like any other file.
    Unpaired surrogates (which a browser can send) become U+FFFD, so the file always saves as UTF-8."""
    title, text, outlet, url = (repair(value)[0] for value in (title, text, outlet, url))
    lines = ["---", f"title: {' '.join(title.split())}"]
    if published:
        lines.append(f"date: {published.isoformat()}")
    if outlet.strip():
        lines.append(f"source: {' '.join(outlet.split())}")
    if url.strip():
        lines.append(f"url: {url.strip()}")
    lines += ["---", "", text.strip(), ""]
    folder = (settings.articles_dir / UPLOAD_FOLDER).resolve()
    body = "\n".join(lines).encode("utf-8")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _temporary(folder, ".paste-", ".md") as temp:
            temp.write_bytes(body)
            target = _target(folder, safe_name(f"{title[:60] or 'pasted'}.md"), temp)
            if not target.exists():
                temp.replace(target)
    except OSError as exc:
        raise SaveError(f"The pasted article was not saved in {folder}: {disk_reason(exc) or exc.strerror or exc}") from exc
    return target
