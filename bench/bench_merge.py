"""What a lexical merge costs: load a saved lexical index, merge all its segments into one (as a save past
MAX_SEGMENTS does), and report the time, the peak memory and a digest of the merged postings, so two versions
of the code can be compared on one index (run it with each checkout's PYTHONPATH). An in-process breakdown,
not a headline. Results go to bench/out/merge.json.

    python bench/bench_merge.py --index INDEX_DIR/bm25/news
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, machine, save

sys.path.insert(0, str(ROOT))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="a lexical index folder (index_dir/bm25/<collection>)")
    args = parser.parse_args()
    from rag.lexical import LexicalIndex, _live, _merge

    index = LexicalIndex.load(args.index)
    if index is None:
        parser.error(f"no whole lexical index at {args.index}")
    loaded = peak_mib()
    start = time.perf_counter()
    merged = _merge(index.segments, _live(index.segments), keep_deleted=False)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256()
    for array in merged.all_postings():
        digest.update(np.ascontiguousarray(array).tobytes())
    result = {"machine": machine(), "index": str(args.index), "segments": len(index.segments), "chunks": len(index),
              "postings": len(merged.all_postings().rows), "peak_after_load_mib": round(loaded), "merge_s": round(seconds, 2),
              "peak_mib": round(peak_mib()), "postings_sha256": digest.hexdigest()}
    print(result)
    save("merge", result)


if __name__ == "__main__":
    main()
