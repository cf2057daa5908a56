"""Ingest benchmark, in one run: the LangChain tutorial pipeline vs newsrag on realtimeqa-dev, each a whole
process timed from outside, ``--runs`` times a side (interleaved, each into a fresh folder: the machine's
speed drifts, so only the same run's pair compares), reported as minimum and median; then unchanged
re-runs of the last newsrag index (min and median of ``--runs``), then peak memory at 1x and 4x the corpus.
The time each process prints of itself (its work without start-up) is kept as a breakdown.

    python bench/bench_ingest.py [--corpus PATH] [--runs 3] [--skip-baseline] [--skip-4x]
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

from common import CORPUS, QUESTIONS, ROOT, machine, run_newsrag, save, write_config


def scaled_corpus(source: Path, factor: int, target: Path) -> Path:
    """``factor`` copies of the corpus with distinct URLs and text, so none is a duplicate."""
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    with target.open("w") as out:
        for k in range(factor):
            for row in rows:
                copy = dict(row, url=f"{row['url']}#copy{k}", text=f"(Edition {k}.) {row['text']}")
                out.write(json.dumps(copy) + "\n")
    return target


def newsrag_ingest(corpus: Path, work: Path) -> dict:
    config = write_config(work, ingest={"max_file_mb": 500.0})
    first, wall, rss = run_newsrag(config, "ingest", str(corpus))
    return {"config": config, "seconds": first["seconds"], "wall": wall, "rss": rss,
            "articles": first["totals"]["added"], "chunks": first["chunks_embedded"]}


def spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "runs": len(values)}


def baseline_ingest(corpus: Path, work: Path) -> dict:
    """The LangChain tutorial pipeline in a child, timed from outside."""
    started = time.perf_counter()
    base = subprocess.run([sys.executable, str(ROOT / "bench" / "baseline_langchain.py"), str(corpus),
                           str(QUESTIONS), str(work)], capture_output=True, text=True, check=True)
    return {**json.loads(base.stdout.strip().splitlines()[-1]), "wall": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--runs", type=int, default=3, help="whole-process runs a side (default 3)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-4x", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsrag-bench-"))
    result: dict = {"machine": machine(), "corpus": str(args.corpus), "load_before": os.getloadavg()}
    try:
        bases: list[dict] = []
        runs: list[dict] = []
        for n in range(args.runs):
            if not args.skip_baseline:
                bases.append(baseline_ingest(args.corpus, work / f"baseline{n}"))
                print(f"{'LangChain tutorial':>24}: run {n + 1}: {bases[-1]['wall']:.1f} s whole process", flush=True)
            if runs:
                shutil.rmtree(work / f"newsrag{n - 1}", ignore_errors=True)
            runs.append(newsrag_ingest(args.corpus, work / f"newsrag{n}"))
            print(f"{'newsrag':>24}: run {n + 1}: {runs[-1]['wall']:.1f} s whole process", flush=True)
        ours = runs[-1]
        quality, _, _ = run_newsrag(ours["config"], "eval", str(QUESTIONS), "--retrieval-only")
        reruns = [run_newsrag(ours["config"], "ingest", str(args.corpus)) for _ in range(args.runs)]
        walls = [r["wall"] for r in runs]
        result["newsrag"] = {
            "articles": ours["articles"], "chunks": ours["chunks"], "wall_s": spread(walls),
            "printed_s": spread([r["seconds"] for r in runs]),
            "articles_per_s": round(ours["articles"] / statistics.median(walls), 2),
            "peak_rss_mib": round(max(r["rss"] for r in runs), 1),
            "hit5": quality["hit5"], "hit1": quality["hit1"], "mrr10": quality["mrr10"],
            "rerun_wall_s": spread([wall for _, wall, _ in reruns]),
            "rerun_speedup_medians": round(statistics.median(walls) / statistics.median(w for _, w, _ in reruns), 1),
            "rerun_peak_rss_mib": round(max(rss for _, _, rss in reruns), 1),
        }
        n = result["newsrag"]
        print(f"{'newsrag':>24}: whole process min {n['wall_s']['min']} s, median {n['wall_s']['median']} s "
              f"({n['chunks']} chunks, {n['articles_per_s']} articles/s at the median), Hit@5 {n['hit5']}, "
              f"peak {n['peak_rss_mib']} MiB", flush=True)
        if bases:
            base_walls = [b["wall"] for b in bases]
            result["baseline"] = {**bases[-1], "wall_s": spread(base_walls),
                                  "printed_s": spread([b["seconds"] for b in bases]),
                                  "peak_rss_mib": max(b["peak_rss_mib"] for b in bases)}
            ratio = statistics.median(base_walls) / statistics.median(walls)
            result["throughput_ratio_medians"] = round(ratio, 2)
            print(f"{'LangChain tutorial':>24}: whole process min {min(base_walls):.2f} s, median "
                  f"{statistics.median(base_walls):.2f} s, Hit@5 {bases[-1]['hit5']}, peak "
                  f"{result['baseline']['peak_rss_mib']} MiB")
            print(f"{'throughput vs baseline':>24}: {ratio:.2f}x (medians of the same run)")
        print(f"{'unchanged re-run':>24}: whole process min {n['rerun_wall_s']['min']} s, median "
              f"{n['rerun_wall_s']['median']} s: {n['rerun_speedup_medians']}x faster than the first ingest (medians)")
        if not args.skip_4x:
            big = scaled_corpus(args.corpus, 4, work / "corpus4x.jsonl")
            four = newsrag_ingest(big, work / "newsrag4x")
            result["memory"] = {"1x_peak_rss_mib": round(ours["rss"], 1), "4x_peak_rss_mib": round(four["rss"], 1),
                                "4x_articles": four["articles"], "4x_chunks": four["chunks"],
                                "4x_seconds": round(four["seconds"], 1)}
            print(f"{'peak memory 1x / 4x':>24}: {ours['rss']:.0f} / {four['rss']:.0f} MiB "
                  f"({four['articles']} articles, {four['chunks']} chunks in {four['seconds']:.0f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["load_after"] = os.getloadavg()  # other work on the cores slows both sides of the pair alike
    print(f"{'load average':>24}: {result['load_before']} before, {result['load_after']} after")
    save("ingest", result)


if __name__ == "__main__":
    main()
