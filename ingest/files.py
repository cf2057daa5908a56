"""Which files an ingest reads, and the name each article's file goes by.

A symlink is followed, to a file or to a folder, and what it leads to is named by the link's own path
(where it was found), never by its target: the article belongs to the folder it was found in, and
removing the link prunes it like removing a file. A folder reached twice (a symlink loop, or two links
to one folder) is walked once; a link that points nowhere is no file. Paths are compared "as found"
(absolute, normalised, links kept), also accepting the same path written with its folders resolved,
so ``data/articles`` and the real folder behind a linked ``data`` name the same files.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ingest.decode import display_path

log = logging.getLogger(__name__)

# The article files by suffix (their readers are in :mod:`ingest.load` and :mod:`ingest.documents`)
TEXT_TYPES = {".txt": "text", ".md": "markdown", ".markdown": "markdown"}
HTML_TYPES = {".html", ".htm"}
JSON_TYPES = {".json", ".jsonl"}
DOCUMENT_TYPES = {".pdf": "pdf", ".docx": "docx"}  # read by :mod:`ingest.documents`
SUPPORTED = frozenset(TEXT_TYPES) | HTML_TYPES | JSON_TYPES | frozenset(DOCUMENT_TYPES)


def is_url(text: str) -> bool:
    """Whether an ingest argument is a web address (fetched by :mod:`ingest.web`) rather than a path."""
    return bool(re.match(r"^https?://\S+$", text.strip(), re.IGNORECASE))


def place(path: Path) -> Path:
    """Where a file was found: absolute and normalised, symlinks kept as they are (never resolved)."""
    return Path(os.path.abspath(path))


def spellings(path: Path) -> tuple[Path, ...]:
    """The ways a found path may be written: as found, and with the folders above it resolved."""
    found = place(path)
    return found, found.parent.resolve() / found.name


def within(path: Path, folders: Iterable[Path]) -> bool:
    """Whether ``path`` (as found) is one of ``folders`` or lies under one, however either is spelled."""
    bases = {b for folder in folders for b in (place(folder), folder.resolve())}
    return any(p == b or b in p.parents for p in spellings(path) for b in bases)


def source_name(path: Path, root: Path | None) -> str:
    """The file's name as reported and keyed: where it was found (a symlink is named by its own path, not
    its target's), relative to the articles folder when inside it. Bytes of a name that are not UTF-8 are shown
    escaped (``caf\\xe9.txt``), so the name always prints and hashes."""
    if root is not None:
        for found in spellings(path):
            for base in (place(root), root.resolve()):
                if found == base or base in found.parents:
                    return display_path(found.relative_to(base).as_posix())
    return display_path(place(path).as_posix())


def discover(paths: Iterable[Path], suffixes: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """Expand folders (recursively, skipping hidden entries) into files, as found (see :func:`place`).

    Symlinks are followed, to files and to folders; an article reached through a link is named by the
    link's path, so removing the link prunes it. A folder reached twice (a loop, or two links to one
    folder) is walked once; a link that points nowhere is no file. Returns (article files, other files), by ``suffixes``:
    files given by name are always article files, so an unsupported one is reported; in folders, other
    types are skipped.
    """
    wanted = frozenset(suffixes)
    files: list[Path] = []
    skipped: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in _walk(path):
                (files if child.suffix.lower() in wanted else skipped).append(child)
        else:
            files.append(path)
    unique = list(dict.fromkeys(place(p) for p in files))
    return unique, skipped


def _walk(folder: Path) -> list[Path]:
    """Every non-hidden file under ``folder``, sorted, through links, each real folder walked once."""
    seen: set[str] = set()
    out: list[Path] = []
    for top, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            log.info("%s is a folder already walked (a symlink loop or a second link); skipped", top)
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out += [Path(top, name) for name in names if not name.startswith(".") and Path(top, name).is_file()]
    return sorted(out)
