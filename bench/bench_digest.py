"""Digest and timeline latency, warm, in one process (issue 14: goal p95 under 2 s on the h1 corpus).

    python bench/bench_digest.py --index DIR [--runs N]

DIR is an index built with ``newsrag ingest`` (for example of ../shared/bench/realtimeqa-2023h1). The store and the
story table are opened once; then the 7-day window ending on each day that has articles is digested and the timeline
of each window's top story is built, without and with its figures over time. Prints p50/p95/max of each, in
milliseconds, and the whole-process time of one ``newsrag digest`` run (cold: start-up included) as min/median of
``--runs`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import load_settings  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.store import get_store  # noqa: E402
from rag.stories import load_story_table  # noqa: E402
from rag.timeline import DIGEST_DAYS, digest, story_timeline, timeline  # noqa: E402


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms ({len(ordered)} runs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(None).replace(paths={"index_dir": str(args.index)})
    store, table = get_store(settings, get_embedder(settings.embed).name), load_story_table(settings)
    days = sorted({int(d) for d in table.days if d})
    first, last = date.fromordinal(days[0]), date.fromordinal(days[-1])
    digests, timelines, figured = [], [], []
    for day in (date.fromordinal(d) for d in days):  # every window that ends on a day with articles
        t0 = time.perf_counter()
        items = digest(store, table, day - timedelta(days=DIGEST_DAYS), day)
        digests.append((time.perf_counter() - t0) * 1000)
        if items:
            t0 = time.perf_counter()
            timeline(store, table, items[0].story)
            timelines.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            story_timeline(store, table, items[0].story)  # the events again, and the figures from whole texts
            figured.append((time.perf_counter() - t0) * 1000)
    print(f"{len(table)} articles, {len(table.members)} stories, {first} to {last}")
    print("digest, warm:  ", percentiles(digests))
    print("timeline, warm:", percentiles(timelines))
    print("timeline with figures, warm:", percentiles(figured))
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.toml"
        config.write_text(f'[paths]\nindex_dir = "{args.index}"\n')
        command = [str(ROOT / ".venv" / "bin" / "newsrag"), "--config", str(config), "digest", "--until", last.isoformat()]
        seconds = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds.append(time.perf_counter() - t0)
    print(f"newsrag digest, whole process: min {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s "
          f"({args.runs} runs)")


if __name__ == "__main__":
    main()
