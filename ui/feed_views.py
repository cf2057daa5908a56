"""The Index tab's feeds block: each configured feed's last poll, what it added and its last error, as Markdown.
Pure functions of :func:`ingest.feeds.feed_status`'s records (unit-tested)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ingest.feeds import FeedStatus

NO_FEEDS = "No feeds yet: list RSS/Atom URLs in `[feeds] urls` in config.toml, and `newsrag serve` polls them."


def _when(stamp: float | None, never: str) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else never


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or "—"


def feeds_markdown(statuses: Sequence[FeedStatus], interval_minutes: float) -> str:
    """A table of the feeds (or how to add some), with the polling interval."""
    if not statuses:
        return NO_FEEDS
    every = f"{interval_minutes:g} minute{'s' if interval_minutes != 1 else ''}"
    lines = [f"**Feeds**, polled every {every} while `newsrag serve` runs (times are this server's).", "",
             "| feed | last poll | outcome | added (last / all) | next poll | last error |",
             "|---|---|---|---|---|---|"]
    for s in statuses:
        lines.append(f"| {_cell(s.url)} | {_when(s.last_poll, 'never')} | {_cell(s.last_outcome or 'not polled yet')} "
                     f"| {s.last_added} / {s.total_added} | {_when(s.next_poll, 'at start')} | {_cell(s.last_error)} |")
    return "\n".join(lines)
