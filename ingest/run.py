"""One ingest of whatever a user names: files, folders and URLs, routed here so that the CLI, the UI and
the API share it.

* Files and folders: when the last clean run's record vouches that nothing changed
  (:func:`ingest.lastrun.unchanged`), its report is returned without opening the index or importing the
  embedder; otherwise :func:`ingest.index.ingest_paths` checks every file.
* URLs (``http(s)://``): fetched pages and feeds, :func:`ingest.web.ingest_urls`.

The two reports are added up. Heavy modules are imported only on the path that needs them.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ingest.files import is_url
from rag.config import Settings
from rag.schema import ArticleReport, IngestReport
from rag.sections import MAX_FILE_MB

log = logging.getLogger(__name__)


def ingest_any(paths: Sequence[str], settings: Settings, *, prune: bool = False,
               progress: Callable[[Any], None] | None = None,
               on_report: Callable[[ArticleReport], None] | None = None) -> IngestReport:
    """Ingest ``paths`` (files, folders and URLs); ``on_report`` hears each article's outcome as it settles."""
    from ingest.lastrun import unchanged

    urls = [p for p in paths if is_url(p)]
    files = [p for p in paths if not is_url(p)]
    report = IngestReport()
    if files:
        quick, why = unchanged(files, settings, prune=prune)
        if quick is not None:
            log.info("nothing changed since the last clean ingest of these files: the index was not opened")
            report = quick
            for item in quick.items:
                if on_report is not None:
                    on_report(item)
        else:
            from ingest.index import ingest_paths

            log.info("checking every file against the index: %s", why)
            report = ingest_paths(files, settings, prune=prune, progress=progress, on_report=on_report)
    if urls:
        from ingest.web import ingest_urls

        fetched = ingest_urls(urls, settings)
        for item in fetched.items:
            if on_report is not None:
                on_report(item)
        report = report + fetched
    return report


@contextlib.contextmanager
def throwaway_index(corpus: Path, settings: Settings,
                    told: Callable[[str], None] = log.info) -> Iterator[Settings]:
    """Index ``corpus`` (one file, of any size up to the format's limit) into a temporary folder and yield the
    settings that point at it; the folder is deleted afterwards. ``eval --corpus`` uses it."""
    from ingest.index import ingest_paths

    with tempfile.TemporaryDirectory(prefix="newsrag-eval-") as folder:
        size_mb = corpus.stat().st_size / 1e6 + 1
        scratch = settings.replace(paths={"index_dir": folder},
                                   ingest={"max_file_mb": min(max(settings.ingest.max_file_mb, size_mb), MAX_FILE_MB)})
        told(f"indexing {corpus} into a throwaway index ...")
        report = ingest_paths([corpus], scratch)
        told(f"indexed {report.totals['added']} articles ({report.chunks_embedded} chunks) in {report.seconds:.0f}s")
        yield scratch
