"""Draw docs/scale.png from bench/out/million-100000.json and million-1000000.json (bench_million.py runs).

    python bench/plot_scale.py
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from common import OUT, ROOT  # noqa: E402

SIZES = {"100k": 100_000, "1M": 1_000_000}


def main() -> None:
    runs = {name: json.loads((OUT / f"million-{n}.json").read_text()) for name, n in SIZES.items()
            if (OUT / f"million-{n}.json").exists()}
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, run in runs.items():
        batches = run.get("build", {}).get("batches", [])
        left.plot([b["chunks_after"] / 1000 for b in batches], [b["chunks_per_s"] for b in batches], marker="o", label=name)
    left.set(title="writing the index: chunks/s per batch\n(Chroma + lexical update; embedding not included)",
             xlabel="chunks in the index (thousands)", ylabel="chunks/s", ylim=(0, None))
    left.legend()
    steps = [("add_10_articles", "add 10 articles"), ("serve_ready", "serve until ready"), ("ask", "newsrag ask")]
    width = 0.8 / max(len(runs), 1)
    for i, (name, run) in enumerate(runs.items()):
        middle.bar([j + i * width for j in range(len(steps))], [run[key]["median_s"] for key, _ in steps], width, label=name)
    middle.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(steps))], [label for _, label in steps])
    middle.axhline(10, color="grey", linestyle="--", linewidth=1)
    middle.text(-0.4, 10.2, "goal for adding 10 articles: 10 s", fontsize=8, color="grey")
    counts = sorted({len(run[key].get("all_s", [])) for run in runs.values() for key, _ in steps})
    middle.set(title=f"whole processes, median of {'/'.join(map(str, counts))} runs (s)", ylabel="seconds")
    middle.legend()
    filters = ["none", "date", "outlet", "date+outlet"]
    for i, (name, run) in enumerate(runs.items()):
        right.bar([j + i * width for j in range(len(filters))], [run["retrieval"][f]["p95_ms"] for f in filters], width,
                  label=name)
    right.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(filters))], filters)
    right.axhline(150, color="grey", linestyle="--", linewidth=1)
    right.text(-0.4, 153, "goal: p95 150 ms", fontsize=8, color="grey")
    right.set(title="hybrid retrieval p95 by filter (ms, in-process)", ylabel="ms")
    right.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "scale.png", dpi=110)
    print("wrote docs/scale.png")


if __name__ == "__main__":
    main()
