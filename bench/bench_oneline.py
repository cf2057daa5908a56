"""One-line text files of 1, 10 and 50 MB through `newsrag ingest`, each a whole child process on a fresh
index in a temporary folder: wall time (min and median of --runs) and peak memory. Prints numbers, asserts
nothing. Issue 15 item 7: a 19 MB one-line file used to take over 10 minutes and 2.8 GB.

The file has no line break at all: --shape sentences (words with full stops) or words (no sentence
end either, the case that used to tokenize the whole line at once). Most of the time is embedding (about
900 chunks per MB); --chunk-only times loading and chunking alone (same child setup, no model, no index)
to show that part is linear.

    python bench/bench_oneline.py [--sizes 1 10 50] [--runs 3] [--shape sentences|words] [--chunk-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, run_newsrag, save, write_config

WORDS = ["harbour", "council", "ferry", "minister", "budget", "repairs", "officials", "port", "rules", "ships",
         "season", "strike", "union", "pay", "bridge", "cables", "steel", "visitors", "festival", "lighthouse"]

CHUNK_ONLY = """
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from ingest.chunk import Chunker
from ingest.load import load_file
from rag.config import EmbedSettings, Settings
from rag.embed import Tokenizer, model_path
tok = Tokenizer(model_path(EmbedSettings()))
(article,) = load_file(Path(sys.argv[1]), max_bytes=10**10).articles
chunker = Chunker(Settings().chunk, tok.count, 256, tok.count_batch)
chunker.warm([article.text])
chunks = chunker.split(article, "h")
print(json.dumps({"seconds": time.perf_counter() - t0, "chunks": len(chunks),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def one_line_file(path: Path, megabytes: float, shape: str = "sentences", seed: int = 15) -> None:
    """``megabytes`` of sentences (or of words alone) on a single line (no newline anywhere)."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    with path.open("w", encoding="utf-8") as handle:
        written = 0
        while written < target:
            sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 28))) + " "
            if shape == "sentences":
                sentence = sentence.capitalize().rstrip() + ". "
            handle.write(sentence)
            written += len(sentence)


def chunk_only(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHUNK_ONLY, str(path)], capture_output=True, text=True, env=env,
                          check=True)
    return {**json.loads(proc.stdout), "wall": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 50], metavar="MB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shape", choices=("sentences", "words"), default="sentences")
    parser.add_argument("--chunk-only", action="store_true", help="load and chunk only, no embedding or index")
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="newsrag-oneline-") as tmp:
            folder = Path(tmp)
            (folder / "articles").mkdir()
            path = folder / "articles" / "oneline.txt"
            one_line_file(path, size, args.shape)
            walls, peaks, chunks = [], [], 0
            for run in range(args.runs):
                if args.chunk_only:
                    out = chunk_only(path)
                    walls.append(out["wall"])
                    peaks.append(out["peak_mib"])
                    chunks = out["chunks"]
                else:
                    config = write_config(folder / f"run{run}", ingest={"max_file_mb": size + 5})
                    report, wall, peak = run_newsrag(config, "ingest", str(path))
                    assert isinstance(report, dict)
                    if report["totals"]["added"] != 1:
                        raise SystemExit(f"{size} MB: not indexed: {report['items']}")
                    walls.append(wall)
                    peaks.append(peak)
                    chunks = report["chunks_embedded"]
            row = {"mb": size, "shape": args.shape, "runs": args.runs, "min_s": round(min(walls), 2),
                   "median_s": round(statistics.median(walls), 2), "s_per_mb": round(min(walls) / size, 2),
                   "peak_mib": round(max(peaks)), "chunks": chunks}
            results.append(row)
            print(json.dumps(row), flush=True)
    result = {"machine": machine(), "chunk_only": args.chunk_only, "results": results}
    save(f"oneline_{args.shape}" + ("_chunk" if args.chunk_only else ""), result)


if __name__ == "__main__":
    main()
