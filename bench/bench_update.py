"""What adding 10 articles to an existing index costs, timed from outside as a whole `newsrag ingest`
process, on indexes of different sizes: the cost should follow the update, not the index.

For each ``--index CONFIG`` (a config.toml whose index is already built), every run copies the index to a
scratch folder (not timed), then times `newsrag --config COPY ingest TEN.jsonl`, where TEN.jsonl holds 10
articles the index lacks (from ``--new``, a corpus.jsonl). With ``--before PATH`` (another checkout, e.g.
`git worktree add /tmp/newsrag-before HEAD~1`) the same is run for that code, alternating with this
checkout, so both sides see the same machine. Reports min and median of ``--runs`` a side and the
lexical index's share as newsrag logs it. Results go to bench/out/update.json.

    python bench/bench_update.py --index /tmp/dev.toml --index /tmp/h1.toml --new OTHER/corpus.jsonl \
        [--runs 3] [--before PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib
from common import ROOT, machine, save


def ten_articles(corpus: Path, out: Path, skip: int = 0) -> Path:
    """The first 10 articles of a corpus.jsonl (after ``skip``), as their own JSONL file."""
    lines = corpus.read_text().splitlines()[skip:skip + 10]
    out.write_text("\n".join(lines) + "\n")
    return out


def copy_of(config: Path, scratch: Path) -> Path:
    """A copy of the index ``config`` names, and a config for the copy."""
    settings = tomllib.loads(config.read_text())
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(settings["paths"]["index_dir"], scratch / "index")
    copy = scratch / "config.toml"
    copy.write_text(f'[paths]\nindex_dir = "{scratch / "index"}"\narticles_dir = "{scratch / "articles"}"\n')
    return copy


def timed_ingest(root: Path, config: Path, articles: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "-v", "ingest", str(articles)],
                          capture_output=True, text=True, cwd=root, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or " added" not in proc.stdout:  # "10 added", or "9 added, 1 updated" (a shared URL)
        raise RuntimeError(f"newsrag ingest at {root} failed ({proc.returncode}): {proc.stdout[-800:]} {proc.stderr[-2000:]}")
    return wall, proc.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, action="append", required=True, help="config.toml of a built index")
    parser.add_argument("--new", type=Path, required=True, help="a corpus.jsonl whose first 10 articles are added")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout, timed alternately in the same run")
    args = parser.parse_args()
    sides = {"this checkout": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        ten = ten_articles(args.new, scratch / "ten.jsonl")
        for config in args.index:
            walls: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(args.runs):
                for side, root in sides.items():
                    copy = copy_of(config, scratch / "index-copy")
                    wall, summary = timed_ingest(root, copy, ten)
                    walls[side].append(wall)
                    print(f"{config.name} {side}: {wall:.2f} s ({summary})", flush=True)
            chunks = _chunks(config)
            row = {"index": str(config), "chunks": chunks, "runs": args.runs}
            for side, times in walls.items():
                row[side] = {"min": min(times), "median": statistics.median(times), "all": times}
                print(f"== {config.name} ({chunks} chunks) {side}: min {min(times):.2f} s, median "
                      f"{statistics.median(times):.2f} s", flush=True)
            results.append(row)
    save("update", {"machine": machine(), "added": 10, "results": results})


def _chunks(config: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "stats", "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    try:
        return int(json.loads(proc.stdout)["chunks"])
    except (ValueError, KeyError):
        return -1


if __name__ == "__main__":
    main()
