"""The small JSON state files an ingest keeps beside the index (failed files, feeds): ``{"format": N, TABLE: {...}}``,
replaced whole (written to a ``.tmp`` file, then renamed over), so a reader sees the old file or the new one.

Neither function raises: a file that cannot be read, or is of another format, reads as an empty table, and one
that cannot be written is logged; ``consequence`` says in the warning what that costs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def read_table(path: Path, fmt: int, table: str, consequence: str) -> dict[str, Any]:
    """The file's ``table`` when it is of format ``fmt``, else {} (a warning when the file is there but unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s (%s): %s", path, exc, consequence)
        return {}
    if not isinstance(data, dict) or data.get("format") != fmt or not isinstance(data.get(table), dict):
        return {}
    return data[table]


def write_table(path: Path, fmt: int, table: str, entries: dict[str, Any], consequence: str) -> bool:
    """Replace the file with ``entries`` as its ``table`` (its folder created); False, logged, when it cannot."""
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"format": fmt, table: entries}), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not write %s (%s): %s", path, exc, consequence)
        return False
    return True
