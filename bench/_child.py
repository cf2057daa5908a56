"""Run the newsrag CLI and then write this process's peak RSS (MiB) to $NEWSRAG_BENCH_RSS."""

import os
import resource
import sys

from rag.cli import main

code = main(sys.argv[1:])
with open(os.environ["NEWSRAG_BENCH_RSS"], "w") as handle:
    handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
sys.exit(code)
