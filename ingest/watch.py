"""Re-index the articles folder whenever files appear, change or disappear (``newsrag serve --watch``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ingest.index import ingest_paths
from rag.config import Settings
from rag.schema import IngestReport

log = logging.getLogger(__name__)


def watch_folder(settings: Settings, stop: threading.Event,
                 on_report: Callable[[IngestReport], None] | None = None) -> None:
    """Block until ``stop`` is set; after each burst of changes run an incremental ingest with prune."""
    from watchfiles import watch

    folder = settings.articles_dir
    folder.mkdir(parents=True, exist_ok=True)
    log.info("watching %s for article changes", folder)
    for changes in watch(folder, stop_event=stop, debounce=800, step=200,
                         watch_filter=lambda _change, path: "/." not in path.replace(str(folder), "")):
        log.info("%d change(s) in %s; re-indexing", len(changes), folder)
        try:
            report = ingest_paths([folder], settings, prune=True)
        except Exception:  # noqa: BLE001 - the watcher keeps running; the error is logged with its traceback
            log.exception("re-indexing %s failed", folder)
            continue
        if on_report:
            on_report(report)


def start_watcher(settings: Settings, on_report: Callable[[IngestReport], None] | None = None
                  ) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=watch_folder, args=(settings, stop, on_report), name="newsrag-watch", daemon=True)
    thread.start()
    return thread, stop
