"""Ingest benchmark, in one run: the LangChain tutorial pipeline vs newsrag on realtimeqa-dev, then an
unchanged re-run, then peak memory at 1x and 4x the corpus. The re-run here is a single one, timed from
outside; bench_rerun.py gives the min and median of several, against the code before in the same run.

    python bench/bench_ingest.py [--corpus PATH] [--skip-baseline] [--skip-4x]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-4x", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsrag-bench-"))
    result: dict = {"machine": machine(), "corpus": str(args.corpus)}
    try:
        if not args.skip_baseline:
            base = subprocess.run([sys.executable, str(ROOT / "bench" / "baseline_langchain.py"), str(args.corpus),
                                   str(QUESTIONS), str(work / "baseline")], capture_output=True, text=True, check=True)
            baseline = json.loads(base.stdout.strip().splitlines()[-1])
            result["baseline"] = baseline
            print(f"{'LangChain tutorial':>24}: {baseline['seconds']} s, {baseline['chunks']} chunks, "
                  f"{baseline['articles'] / baseline['seconds']:.2f} articles/s, Hit@5 {baseline['hit5']}, "
                  f"peak {baseline['peak_rss_mib']} MiB", flush=True)
        ours = newsrag_ingest(args.corpus, work / "newsrag")
        quality, _, _ = run_newsrag(ours["config"], "eval", str(QUESTIONS), "--retrieval-only")
        rerun, rerun_wall, rerun_rss = run_newsrag(ours["config"], "ingest", str(args.corpus))
        result["newsrag"] = {
            "articles": ours["articles"], "chunks": ours["chunks"], "seconds": round(ours["seconds"], 2),
            "wall_s": round(ours["wall"], 2), "articles_per_s": round(ours["articles"] / ours["seconds"], 2),
            "chunks_per_s": round(ours["chunks"] / ours["seconds"], 2), "peak_rss_mib": round(ours["rss"], 1),
            "hit5": quality["hit5"], "hit1": quality["hit1"], "mrr10": quality["mrr10"],
            "rerun_wall_s": round(rerun_wall, 2), "rerun_printed_s": round(rerun["seconds"], 2),
            "rerun_speedup": round(ours["wall"] / rerun_wall, 1), "rerun_peak_rss_mib": round(rerun_rss, 1),
        }
        n = result["newsrag"]
        print(f"{'newsrag':>24}: {n['seconds']} s, {n['chunks']} chunks, {n['articles_per_s']} articles/s, "
              f"Hit@5 {n['hit5']}, peak {n['peak_rss_mib']} MiB", flush=True)
        if "baseline" in result:
            ratio = result["baseline"]["seconds"] / n["seconds"]
            result["throughput_ratio"] = round(ratio, 2)
            print(f"{'throughput vs baseline':>24}: {ratio:.2f}x (Hit@5 {n['hit5']} vs {result['baseline']['hit5']})")
        print(f"{'unchanged re-run':>24}: {n['rerun_wall_s']} s whole process, {n['rerun_speedup']}x faster than the "
          f"first ingest's {n['wall_s']} s (one run each; bench_rerun.py: min and median)")
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
    save("ingest", result)


if __name__ == "__main__":
    main()
