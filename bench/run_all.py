"""Run every benchmark and draw docs/performance.png from their results (bench/out/*.json).

    python bench/run_all.py            # all of them (about 45 minutes on 2 cores)
    python bench/run_all.py --chart    # only redraw the chart from existing results
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import OUT, ROOT

SCRIPTS = ["bench_embed.py", "bench_ingest.py", "bench_rerun.py", "bench_quality.py", "bench_latency.py", "bench_load.py"]


def chart() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ingest = json.loads((OUT / "ingest.json").read_text()) if (OUT / "ingest.json").exists() else {}
    latency = json.loads((OUT / "latency.json").read_text()) if (OUT / "latency.json").exists() else {}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    if ingest.get("baseline") and ingest.get("newsrag"):
        names = ["LangChain tutorial", "newsrag"]
        values = [ingest["baseline"]["articles"] / ingest["baseline"]["wall_s"]["median"], ingest["newsrag"]["articles_per_s"]]
        axes[0].bar(names, values, color=["#999999", "#f97316"])
        axes[0].set_title("Ingest throughput (articles/s)\nrealtimeqa-dev, 488 articles")
        for i, v in enumerate(values):
            axes[0].text(i, v, f"{v:.2f}", ha="center", va="bottom")
    if latency:
        labels, p50, p95 = [], [], []
        for key, label in (("retrieval_100k", "retrieval\n100k chunks"), ("extractive_answer", "extractive\nanswer")):
            if key in latency:
                labels.append(label)
                p50.append(latency[key]["p50_ms"])
                p95.append(latency[key]["p95_ms"])
        xs = range(len(labels))
        axes[1].bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="#f97316")
        axes[1].bar([x + 0.2 for x in xs], p95, width=0.4, label="p95", color="#fdba74")
        axes[1].set_xticks(list(xs), labels)
        axes[1].set_title("Latency (ms)")
        axes[1].legend()
        if "cold_start" in latency:
            cold = latency["cold_start"]
            axes[2].bar(["newsrag ask", "newsrag serve"], [cold["ask_s"], cold["serve_s"]], color="#f97316")
            axes[2].set_title("Cold start (s)")
            for i, v in enumerate([cold["ask_s"], cold["serve_s"]]):
                axes[2].text(i, v, f"{v:.1f}", ha="center", va="bottom")
    fig.tight_layout()
    target = ROOT / "docs" / "performance.png"
    target.parent.mkdir(exist_ok=True)
    fig.savefig(target, dpi=100)
    print(f"chart: {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chart", action="store_true", help="only redraw the chart")
    args = parser.parse_args()
    if not args.chart:
        for script in SCRIPTS:
            print(f"== {script}", flush=True)
            subprocess.run([sys.executable, str(ROOT / "bench" / script)], check=True, cwd=ROOT / "bench")
    chart()


if __name__ == "__main__":
    main()
