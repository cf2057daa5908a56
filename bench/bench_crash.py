"""Kill trials, the long run: ``newsrag ingest --prune`` SIGKILLed at random times on one shared corpus,
each kill followed by a normal run that must leave Chroma, the manifest and the lexical index agreeing
and a second run that changes nothing (the checks of tests/test_crash.py, which runs 20 of them).

    python bench/bench_crash.py [--trials 70] [--seed 2026]

Prints how the kills landed and how many states were not repaired (expected: none).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, save

sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=70)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    from rag.config import EmbedSettings
    from rag.embed import get_embedder
    from tests.test_crash import run_trials

    embedder = get_embedder(EmbedSettings())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="newsrag-crash-") as work:
        outcomes = run_trials(Path(work), embedder, args.trials, args.seed, keep_going=True)
    seconds = time.perf_counter() - started
    failed = sum(n for k, n in outcomes.items() if k.startswith("NOT REPAIRED"))
    result = {"trials": args.trials, "seed": args.seed, "seconds": round(seconds, 1), "outcomes": dict(outcomes),
              "not_repaired": failed, "machine": machine()}
    save("crash", result)
    print(f"{args.trials} kill trials (seed {args.seed}) in {seconds:.0f} s on {machine()}")
    for outcome, n in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>3}  {outcome}")
    print(f"not repaired: {failed}")


if __name__ == "__main__":
    main()
