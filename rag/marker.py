"""The ingest marker and the writer lock: how an index says that a run is under way or was interrupted.

``index_dir/ingest.running`` is written when an ingest run starts (before anything in the index changes)
and removed only when the run has finished cleanly: every article settled, the store's version bumped
and the lexical index rebuilt to match Chroma. Invariants:

* no marker: the last run finished; the counts ``stats`` reports are the index;
* a marker and the writer lock ``index_dir/ingest.lock`` held: a run is under way now;
* a marker and the lock free: the run that wrote it was killed or failed. Some articles may be left
  half-written (pending in the manifest) and the lexical index may lag Chroma; the next run notices the
  marker, finishes or undoes the half-written articles, and rebuilds the lexical index whatever else it
  finds.

Beside them, the last-run file ``index_dir/lastrun/<collection>.json`` describes the last ingest of files
that finished cleanly (see :mod:`ingest.lastrun`): written after the marker is removed, still under the writer lock,
and deleted by :func:`begin` and by every bump of the store's version (:meth:`rag.store.Store.touch`),
so it exists only while nothing has written to the index since that run finished.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from rag.errors import StoreError, index_error
from rag.schema import Interruption

log = logging.getLogger(__name__)

MARKER = "ingest.running"
LOCK = "ingest.lock"
LAST_RUN = "lastrun"  # the folder of the last-run files, one per collection
_PROCESS_LOCK = threading.Lock()


def _disk(exc: OSError, folder: Path) -> StoreError:
    return index_error(exc, folder) or StoreError(f"Cannot write to the index folder {folder}: {exc}")


def read(index_dir: Path) -> float | None:
    """When the run that left the marker started (Unix time), or None if there is no marker. A marker
    that cannot be parsed (a kill while it was written) still counts, with an unknown start (0.0)."""
    try:
        raw = (index_dir / MARKER).read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return 0.0
    try:
        return float(json.loads(raw)["started"])
    except (ValueError, KeyError, TypeError):
        return 0.0


def begin(index_dir: Path) -> float | None:
    """Write the marker for a run starting now; return the start of an earlier run that never finished."""
    earlier = read(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp = index_dir / (MARKER + ".tmp")
        tmp.write_text(json.dumps({"started": time.time(), "pid": os.getpid()}))
        tmp.replace(index_dir / MARKER)
    except OSError as exc:
        raise _disk(exc, index_dir) from exc
    forget_last_runs(index_dir)
    return earlier


def finish(index_dir: Path) -> None:
    """Remove the marker: the run finished cleanly."""
    try:
        (index_dir / MARKER).unlink(missing_ok=True)
    except OSError as exc:
        raise _disk(exc, index_dir) from exc


def forget_last_runs(index_dir: Path) -> None:
    """Delete the last-run files: the index is about to change. One that cannot be deleted is an error,
    since it would vouch for an index that no longer matches it."""
    try:
        files = list((index_dir / LAST_RUN).iterdir())
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _disk(exc, index_dir) from exc
    for file in files:
        try:
            file.unlink(missing_ok=True)
        except OSError as exc:
            raise _disk(exc, index_dir) from exc


def running(index_dir: Path) -> bool:
    """Whether an ingest holds the writer lock right now (in this process or another)."""
    if not (index_dir / LOCK).exists():
        return False
    probe = FileLock(index_dir / LOCK, thread_local=False, preserve_lock_file=True)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return False
    probe.release()
    return False


def interruption(index_dir: Path, pending: int) -> Interruption | None:
    """What ``stats`` should say about the last run: None when it finished cleanly."""
    started = read(index_dir)
    if started is None:
        return None
    return Interruption(started=started, running=running(index_dir), pending=pending)


@contextlib.contextmanager
def writer_lock(index_dir: Path, embedded: bool = True) -> Iterator[None]:
    """One writer at a time: a thread lock in this process plus, for an embedded index, a file lock
    across processes (waiting, with a warning, while another run holds it)."""
    with _PROCESS_LOCK:
        if not embedded:
            yield
            return
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _disk(exc, index_dir) from exc
        lock = FileLock(index_dir / LOCK, thread_local=False, preserve_lock_file=True)
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                log.warning("another ingest is writing to %s; waiting for it to finish", index_dir)
                lock.acquire()
        except OSError as exc:
            raise _disk(exc, index_dir) from exc
        try:
            yield
        finally:
            lock.release()
