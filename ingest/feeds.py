"""Feeds that refresh themselves: poll every ``[feeds] urls`` RSS/Atom feed and index its new items.

:func:`poll_feeds` polls each configured feed once (``newsrag ingest --feeds``); :class:`FeedPoller` does it on
``[feeds] interval_minutes`` in a background thread of ``newsrag serve``; :func:`feed_status` says how each feed
fared. Invariants:

* A feed is fetched with a conditional GET (``If-None-Match`` with its last ETag, ``If-Modified-Since`` with its
  last ``Last-Modified``); a 304 reply means nothing new, and no item is read.
* An item is never added twice: one whose URL is indexed, or whose key (its guid, else its link) was seen in an
  earlier poll of its feed, is ``unchanged`` and its page is not fetched. Each new item's page is fetched and
  extracted (``fetch_full_text``), the feed's own text being the fallback (:func:`ingest.web.read_feed`).
* An item that failed is not remembered, and neither are the feed's validators then: the next poll fetches the
  feed whole and tries the item again.
* A feed that is down, slow, answers an error or is not a feed costs only itself: its error is reported and kept
  in its status, the other feeds go on. Unexpected errors are logged with their traceback and reported in one line.
* One poll at a time (a lock in this process and a file lock in ``index_dir/feeds``, across processes); the new
  articles of all feeds are written in one ingest run, under the index's writer lock (:mod:`rag.marker`), so a
  poll never races an ingest. Pages are fetched before that lock is taken.
* The state of each feed (last poll, items added then and in all, last error, ETag, Last-Modified, keys seen)
  is kept in ``index_dir/feeds/<collection>.json``, replaced whole, under the poll lock. A subfolder: the index
  folder's own times are left alone (:mod:`ingest.lastrun` reads them). A state file that cannot be read only
  means the next poll fetches every feed whole (items whose URL is indexed are still skipped).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from ingest.statefile import read_table, write_table
from rag.config import Settings
from rag.embed import Embedder, get_embedder
from rag.errors import LoadError, NewsragError
from rag.schema import ArticleReport, IngestReport
from rag.store import Store, get_store

log = logging.getLogger(__name__)

FOLDER = "feeds"
FORMAT = 1
CONSEQUENCE = "the next poll fetches every feed whole"
SEEN_LIMIT = 10_000  # item keys remembered per feed (newest kept): far more than a feed ever lists at once
KEPT = ("added", "updated", "unchanged", "duplicate")  # outcomes after which an item counts as seen

FeedOutcome = Literal["added", "unchanged", "error"]
_POLL_LOCK = threading.Lock()


@dataclass(frozen=True)
class FeedResult:
    """One feed in one poll: ``added`` new items, or ``unchanged`` (``not_modified`` when the server said 304),
    or ``error`` with the reason; ``items`` are the per-item reports (failed items carry their reason)."""

    url: str
    outcome: FeedOutcome
    added: int = 0
    failed: int = 0
    not_modified: bool = False
    error: str = ""
    items: tuple[ArticleReport, ...] = ()


@dataclass(frozen=True)
class FeedReport:
    """One poll of the configured feeds: a result per feed, and the ingest report of all their items."""

    feeds: tuple[FeedResult, ...] = ()
    ingest: IngestReport = IngestReport()

    @property
    def failed(self) -> bool:
        """Whether a feed could not be polled or one of its items failed."""
        return any(f.outcome == "error" or f.failed for f in self.feeds)


@dataclass(frozen=True)
class FeedStatus:
    """How a configured feed fared, from its state file: for ``newsrag serve``'s page and scripts."""

    url: str
    last_poll: float | None  # Unix time; None when never polled
    next_poll: float | None  # when ``newsrag serve`` polls it next (last poll + interval); None = at its start
    last_outcome: str  # "added", "unchanged", "error", or "" when never polled
    last_added: int
    total_added: int
    last_error: str  # the feed's error, or which items failed; "" when the last poll went well
    etag: str
    last_modified: str
    items_seen: int


# -- the state file ---------------------------------------------------------------------------------------------


def location(settings: Settings) -> Path:
    return settings.index_dir / FOLDER / f"{settings.store.collection}.json"


def _read(settings: Settings) -> dict[str, dict[str, Any]]:
    feeds = read_table(location(settings), FORMAT, "feeds", CONSEQUENCE)
    return {url: entry for url, entry in feeds.items() if isinstance(entry, dict)}


def feed_status(settings: Settings) -> list[FeedStatus]:
    """Each ``[feeds] urls`` feed's state, in the configured order (read without taking any lock)."""
    state = _read(settings)
    out = []
    for url in settings.feeds.urls:
        entry = state.get(url, {})
        try:
            last = float(entry["last_poll"]) if entry.get("last_poll") is not None else None
            out.append(FeedStatus(url, last, last + settings.feeds.interval_minutes * 60 if last is not None else None,
                                  str(entry.get("last_outcome", "")), int(entry.get("last_added", 0)),
                                  int(entry.get("total_added", 0)), str(entry.get("last_error", "")),
                                  str(entry.get("etag", "")), str(entry.get("last_modified", "")),
                                  len(entry.get("seen", ()))))
        except (TypeError, ValueError):
            out.append(FeedStatus(url, None, None, "", 0, 0, "", "", "", 0))
    return out


@contextlib.contextmanager
def _poll_lock(settings: Settings) -> Iterator[None]:
    """One poll at a time: in this process, and (through a file lock beside the state file) across processes."""
    with _POLL_LOCK:
        folder = location(settings).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NewsragError(f"Cannot create {folder}: {exc.strerror or exc}") from exc
        with FileLock(folder / "poll.lock", thread_local=False, preserve_lock_file=True):
            yield


# -- one poll -------------------------------------------------------------------------------------------------------


@dataclass
class _Polled:
    """What fetching and reading one feed gave, before the articles are written."""

    url: str
    error: str = ""
    not_modified: bool = False
    etag: str = ""
    last_modified: str = ""
    reports: list[ArticleReport] | None = None
    keys: dict[str, str] | None = None  # item key by article id


def _fetch_feed(url: str, entry: dict[str, Any], settings: Settings, store: Store, articles: list[Any],
                owners: list[_Polled]) -> _Polled:
    """Fetch and read one feed; its new articles are appended to ``articles`` (their owner to ``owners``)."""
    from ingest.web import fetch, read_feed

    polled = _Polled(url)
    try:
        fetched = fetch(url, settings, etag=str(entry.get("etag", "")), last_modified=str(entry.get("last_modified", "")))
        polled.etag, polled.last_modified = fetched.etag, fetched.last_modified
        if fetched.status == 304:
            polled.not_modified = True
            return polled
        read = read_feed(fetched, settings, store, seen=set(entry.get("seen", ())), full_text=settings.feeds.fetch_full_text)
    except LoadError as exc:
        polled.error = str(exc)
        return polled
    except Exception as exc:  # noqa: BLE001 - one feed never stops the others; logged with its traceback
        log.exception("unexpected error while polling the feed %s", url)
        polled.error = f"unexpected error: {type(exc).__name__}: {exc}"
        return polled
    polled.reports, polled.keys = read.reports, read.keys
    articles += read.articles
    owners += [polled] * len(read.articles)
    return polled


def poll_feeds(settings: Settings, *, embedder: Embedder | None = None, store: Store | None = None,
               stop: threading.Event | None = None) -> FeedReport:
    """Poll every ``[feeds] urls`` feed once and index its new items; see the module docstring. When ``stop`` is
    set, the feeds not fetched yet are left for the next poll. Raises only when the index cannot be opened."""
    if not settings.feeds.urls:
        return FeedReport()
    with _poll_lock(settings):
        state = _read(settings)
        embedder = embedder or get_embedder(settings.embed)
        store = store or get_store(settings, embedder.name)
        articles: list[Any] = []
        owners: list[_Polled] = []
        polled: list[_Polled] = []
        for url in settings.feeds.urls:
            if stop is not None and stop.is_set():
                break
            polled.append(_fetch_feed(url, state.get(url, {}), settings, store, articles, owners))
        written, write_error = IngestReport(), ""
        if articles:
            from ingest.index import ingest_articles

            try:
                written = ingest_articles(articles, settings, embedder=embedder, store=store)
            except NewsragError as exc:
                write_error = f"could not write to the index: {exc}"
            except Exception as exc:  # noqa: BLE001 - the server's poller keeps running; logged with its traceback
                log.exception("unexpected error while indexing the feeds' new items")
                write_error = f"could not write to the index: unexpected error: {type(exc).__name__}: {exc}"
        by_id: dict[str, list[_Polled]] = {}
        for article, owner in zip(articles, owners):
            by_id.setdefault(article.id, []).append(owner)
        items: dict[str, list[ArticleReport]] = {p.url: list(p.reports or ()) for p in polled}
        for item in written.items:
            queue = by_id.get(item.article_id)
            if queue:
                items[queue.pop(0).url].append(item)
        writers = {id(owner) for owner in owners}
        results = tuple(_settle(p, items[p.url], write_error if id(p) in writers else "", state) for p in polled)
        write_table(location(settings), FORMAT, "feeds", state, CONSEQUENCE)
    return FeedReport(results, IngestReport(tuple(i for r in results for i in r.items), written.seconds,
                                            written.chunks_embedded, written.notes))


def _settle(polled: _Polled, items: list[ArticleReport], write_error: str, state: dict[str, dict[str, Any]]
            ) -> FeedResult:
    """The feed's result, with its state entry updated. The keys of the items the feed still lists move to the end
    of its ``seen`` list, so that the oldest dropped past ``SEEN_LIMIT`` are those it stopped listing long ago."""
    entry = state.setdefault(polled.url, {})
    error = polled.error or write_error
    added = 0 if error else sum(i.outcome == "added" for i in items)
    failed = [i for i in items if i.outcome == "failed"]
    outcome: FeedOutcome = "error" if error else "added" if added else "unchanged"
    if not error:
        keys = polled.keys or {}
        seen = dict.fromkeys(entry.get("seen", ()))
        for item in items:
            key = keys.get(item.article_id, "") if item.outcome in KEPT else ""
            if key:
                seen.pop(key, None)
                seen[key] = None
        entry["seen"] = list(seen)[-SEEN_LIMIT:]
        if not polled.not_modified:  # a failed item is tried again next time: the feed is then fetched whole
            entry["etag"] = "" if failed else polled.etag
            entry["last_modified"] = "" if failed else polled.last_modified
    problem = error or (f"{len(failed)} item(s) failed, the first {failed[0].source}: {failed[0].reason}" if failed else "")
    entry.update(last_poll=time.time(), last_outcome=outcome, last_added=added,
                 total_added=int(entry.get("total_added", 0)) + added, last_error=problem)
    return FeedResult(polled.url, outcome, added, len(failed), polled.not_modified, error, tuple(items))


# -- the poller of ``newsrag serve`` -----------------------------------------------------------------------------------


def describe(result: FeedResult) -> str:
    """One line for one feed's poll: ``added 3 new items``, ``unchanged (not modified)``, ``error: reason``."""
    if result.outcome == "error":
        return f"error: {result.error}"
    failed = f", {result.failed} failed" if result.failed else ""
    if result.outcome == "added":
        return f"added {result.added} new item{'s' if result.added != 1 else ''}{failed}"
    return f"unchanged ({'not modified' if result.not_modified else 'no new items'}{failed})"


class FeedPoller:
    """Polls the feeds every ``[feeds] interval_minutes`` (``interval_s`` overrides it: tests) in a daemon thread,
    one poll at a time. The first poll comes one interval after the last poll the state file records (at once
    when a feed was never polled), so restarting the server does not poll early. :meth:`stop` ends it."""

    def __init__(self, settings: Settings, *, interval_s: float | None = None,
                 on_report: Callable[[FeedReport], None] | None = None) -> None:
        self.settings = settings
        self.interval_s = interval_s if interval_s is not None else settings.feeds.interval_minutes * 60
        self.on_report = on_report
        self.polls = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="newsrag-feeds", daemon=True)

    def start(self) -> FeedPoller:
        self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop (a poll under way skips the feeds it has not fetched yet) and wait for it."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def first_delay(self) -> float:
        """Seconds until the first poll: one interval after the oldest last poll of a configured feed."""
        polls = [s.last_poll for s in feed_status(self.settings)]
        if not polls or None in polls:
            return 0.0
        return max(0.0, min(p for p in polls if p is not None) + self.interval_s - time.time())

    def _run(self) -> None:
        delay = self.first_delay()
        while not self._stop.wait(delay):
            started = time.monotonic()
            try:
                report = poll_feeds(self.settings, stop=self._stop)
                for result in report.feeds:
                    level = logging.WARNING if result.outcome == "error" or result.failed else logging.INFO
                    log.log(level, "feed %s: %s", result.url, describe(result))
            except NewsragError as exc:  # the index cannot be opened: said, and tried again next time
                log.warning("polling the feeds failed: %s", exc)
            except Exception:  # noqa: BLE001 - the poller keeps running; the error is logged with its traceback
                log.exception("polling the feeds failed")
            else:
                if self.on_report is not None:
                    self.on_report(report)
            self.polls += 1
            delay = max(0.0, self.interval_s - (time.monotonic() - started))


def start_feed_poller(settings: Settings, *, interval_s: float | None = None,
                      on_report: Callable[[FeedReport], None] | None = None) -> FeedPoller:
    """Start polling the configured feeds in the background (``newsrag serve``); ``stop()`` the result to end it."""
    return FeedPoller(settings, interval_s=interval_s, on_report=on_report).start()
