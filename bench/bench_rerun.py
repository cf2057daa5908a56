"""First ingest against an unchanged re-run of the same files, each timed from outside as a whole
`newsrag ingest` process: min and median of ``--runs`` first ingests (each into a fresh index) and of
``--reruns`` re-runs after each. With ``--before PATH`` (another checkout of newsrag, e.g.
`git worktree add /tmp/newsrag-before fd00d8a`) the same is measured for that code in the same run,
alternating with this checkout, so that both sides see the same machine. The times newsrag prints
("in 0.0s") are kept as a breakdown only. Results go to bench/out/rerun.json.

    python bench/bench_rerun.py [--corpus PATH] [--runs 3] [--reruns 3] [--before PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import CORPUS, ROOT, machine, save, write_config

SUMMARY = re.compile(r"^(?P<totals>.*) in (?P<seconds>[\d.]+)s \((?P<embedded>\d+) chunks embedded\)$", re.MULTILINE)


def ingest(root: Path, config: Path, corpus: Path) -> tuple[float, float, str]:
    """``newsrag --config config ingest corpus`` with the code at ``root``, as a user runs it: (wall seconds,
    the seconds newsrag printed, the totals it printed)."""
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "ingest", str(corpus)],
                          capture_output=True, text=True, cwd=root, env=env)
    wall = time.perf_counter() - start
    found = SUMMARY.search(proc.stdout)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"newsrag ingest at {root} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, float(found["seconds"]), found["totals"]


def summary(values: list[float]) -> dict[str, object]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "runs": [round(v, 3) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--runs", type=int, default=3, help="first ingests per side (default 3)")
    parser.add_argument("--reruns", type=int, default=3, help="unchanged re-runs after each first ingest (default 3)")
    parser.add_argument("--before", type=Path, help="another newsrag checkout, measured in the same run")
    args = parser.parse_args()
    sides = {"this checkout": ROOT}
    if args.before:
        sides["before"] = args.before.resolve()
    times: dict[str, dict[str, list[float]]] = {
        name: {"first": [], "rerun": [], "first_printed": [], "rerun_printed": []} for name in sides}
    work = Path(tempfile.mkdtemp(prefix="newsrag-rerun-"))
    try:
        for trial in range(args.runs):
            order = list(sides.items())
            for name, root in order if trial % 2 == 0 else order[::-1]:
                folder = work / f"{name.replace(' ', '-')}-{trial}"
                config = write_config(folder, ingest={"max_file_mb": 500.0})
                wall, printed, totals = ingest(root, config, args.corpus)
                times[name]["first"].append(wall)
                times[name]["first_printed"].append(printed)
                print(f"{name:>14} run {trial + 1}: first ingest {wall:6.2f} s ({totals})", flush=True)
                for _ in range(args.reruns):
                    wall, printed, totals = ingest(root, config, args.corpus)
                    if "added" in totals or "updated" in totals:
                        raise RuntimeError(f"the re-run at {root} was not unchanged: {totals}")
                    times[name]["rerun"].append(wall)
                    times[name]["rerun_printed"].append(printed)
                    print(f"{name:>14} run {trial + 1}: re-run       {wall:6.2f} s ({totals})", flush=True)
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result: dict[str, object] = {"machine": machine(), "corpus": str(args.corpus), "runs": args.runs,
                                 "reruns": args.reruns, "sides": {}}
    print()
    for name, root in sides.items():
        t = times[name]
        first, rerun = summary(t["first"]), summary(t["rerun"])
        ratio_median = statistics.median(t["first"]) / statistics.median(t["rerun"])
        ratio_min = min(t["first"]) / min(t["rerun"])
        result["sides"][name] = {  # type: ignore[index]
            "root": str(root), "first_ingest_s": first, "rerun_s": rerun, "ratio_median": round(ratio_median, 1),
            "ratio_min": round(ratio_min, 1),
            "breakdown_printed_s": {"first": summary(t["first_printed"]), "rerun": summary(t["rerun_printed"])},
        }
        print(f"{name:>14}: first ingest min {first['min']:.2f} s, median {first['median']:.2f} s; unchanged re-run "
              f"min {rerun['min']:.3f} s, median {rerun['median']:.3f} s; first / re-run {ratio_median:.0f}x "
              f"(medians), {ratio_min:.0f}x (minimums)")
    save("rerun", result)


if __name__ == "__main__":
    main()
