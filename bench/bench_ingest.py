"""Ingest benchmark: realtimeqa-dev corpus, first run and an unchanged re-run, with peak memory.

    python bench/bench_ingest.py [--corpus PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from common import CORPUS, OUT, machine, run_newsrag, write_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsrag-bench-"))
    try:
        config = write_config(work, ingest={"max_file_mb": 200.0})
        first, wall1, rss1 = run_newsrag(config, "ingest", str(args.corpus))
        second, wall2, rss2 = run_newsrag(config, "ingest", str(args.corpus))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    articles = first["totals"]["added"]
    chunks = first["chunks_embedded"]
    result = {
        "machine": machine(),
        "corpus": str(args.corpus),
        "articles": articles,
        "chunks": chunks,
        "first_run_s": round(first["seconds"], 2),
        "first_run_wall_s": round(wall1, 2),
        "articles_per_s": round(articles / first["seconds"], 2),
        "chunks_per_s": round(chunks / first["seconds"], 2),
        "peak_rss_mib": round(rss1, 1),
        "rerun_s": round(second["seconds"], 2),
        "rerun_wall_s": round(wall2, 2),
        "rerun_unchanged": second["totals"]["unchanged"],
        "rerun_speedup": round(first["seconds"] / max(second["seconds"], 1e-9), 1),
        "rerun_peak_rss_mib": round(rss2, 1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps(result, indent=2))
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
