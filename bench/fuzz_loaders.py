"""A long Hypothesis run of the loader property (tests/fuzz_files.py): random bytes, damaged and truncated
files, odd encodings, giant fields and deep nesting, over txt, md, html, json, jsonl, pdf and docx. Prints how many
files were read, loaded and rejected (the commonest reasons), and the slowest file; any crash, hang or
rejection without a reason stops the run with Hypothesis's minimal example.

    python bench/fuzz_loaders.py [--examples 2000] [--max-chars 2000000]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, save

sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz_files import TIME_LIMIT, check, files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--max-chars", type=int, default=2_000_000, help="largest giant field or line")
    args = parser.parse_args()
    reasons: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    slowest = (0.0, "")
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="newsrag-fuzz-"))

    @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=files(max_chars=args.max_chars))
    def run(case: tuple[str, bytes]) -> None:
        nonlocal slowest
        suffix, data = case
        path = folder / f"case{suffix}"
        path.write_bytes(data)
        outcome = check(path)
        kinds[suffix + (" loaded" if outcome.loaded else " rejected")] += 1
        if not outcome.loaded:
            reasons[re.sub(r"(?<![-\w])\d+|0x[0-9a-f]{2}", "N", outcome.reason)[:70]] += 1
        if outcome.seconds > slowest[0]:
            slowest = (outcome.seconds, f"{suffix}, {len(data):,} bytes")

    run()
    result = {"machine": machine(), "examples": sum(kinds.values()), "failures": 0,
              "seconds": round(time.perf_counter() - started, 1), "time_limit_s": TIME_LIMIT,
              "slowest_s": round(slowest[0], 2), "slowest_file": slowest[1], "outcomes": dict(sorted(kinds.items())),
              "top_reasons": dict(reasons.most_common(12))}
    save("fuzz_loaders", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
