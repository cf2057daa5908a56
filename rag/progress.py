"""Progress for the command line: a bar on a terminal, a plain line every few seconds elsewhere.

A bar redraws itself with carriage returns, which turn a CI log or a redirected file into one
enormous line. So :class:`Progress` draws a tqdm bar only when its stream is a TTY; otherwise
it writes ``ingest: 120/488 files (25%), articles 300, chunks 2000, 41 s`` at most once every
:data:`INTERVAL` seconds, and once more when it closes. Nothing here imports tqdm unless a bar
is drawn. This is an edge helper: the library reports progress through callbacks, never here.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

INTERVAL = 5.0  # seconds between two progress lines when stderr is not a terminal


class ProgressDisplay:
    """Progress of ``total`` units of work, shown on ``stream`` (stderr by default)."""

    def __init__(self, desc: str, total: int, unit: str, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.started = self.last = time.monotonic()
        self.done = 0
        self.fields: dict[str, Any] = {}
        self.bar: Any = None
        if enabled and _is_tty(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc, file=self.stream, dynamic_ncols=True)

    def update(self, done: int, **fields: Any) -> None:
        """``done`` units finished so far, plus counters shown beside them."""
        self.done, self.fields = done, fields
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix(fields, refresh=False)
            self.bar.refresh()
        elif self.enabled and time.monotonic() - self.last >= INTERVAL:
            self._line()

    def write(self, line: str) -> None:
        """Print a line on stdout without breaking the bar."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.done:
            self._line()

    def _line(self) -> None:
        self.last = time.monotonic()
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        extra = "".join(f", {k} {v}" for k, v in self.fields.items())
        self.stream.write(f"{self.desc}: {self.done}/{self.total} {self.unit}s{share}{extra}, "
                          f"{self.last - self.started:.0f} s\n")
        self.stream.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
