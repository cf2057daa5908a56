"""How many chunks of a corpus the cleaning of this checkout changes, against another revision's cleaning.

    python bench/bench_clutter.py [--corpus CORPUS.jsonl] [--before main] [--show 40]

The corpus (realtimeqa-dev by default) is loaded and chunked twice, each in a child process: with the code
of ``--before`` (``git archive`` of that revision into a temporary folder) and with this checkout's. A chunk
*changed* when its text is not among the chunks of the same article the other code made. Prints the counts,
the lines the new cleaning removed (most frequent first) and the lines whose text it shortened, and saves
``bench/out/clutter.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from common import CORPUS, ROOT, save

CHILD = r"""
import json, sys
from pathlib import Path
from ingest.chunk import Chunker
from ingest.load import load_file
from rag.config import EmbedSettings, Settings
from rag.embed import Tokenizer, model_path
tok = Tokenizer(model_path(EmbedSettings()))
settings = Settings()
loaded = load_file(Path(sys.argv[1]), max_bytes=10**10)
chunker = Chunker(settings.chunk, tok.count, settings.embed.max_tokens, tok.count_batch)
chunker.warm([a.text for a in loaded.articles])
out = {a.key: {"text": a.text, "chunks": [c.text for c in chunker.split(a, "h")]} for a in loaded.articles}
json.dump(out, sys.stdout)
"""


def chunked(code: Path, corpus: Path) -> dict[str, dict[str, object]]:
    """Article key -> cleaned text and chunk texts, as the code under ``code`` makes them."""
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(corpus)], cwd=code, env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def exported(revision: str, folder: Path) -> Path:
    """The files of ``revision`` (``git archive``) under ``folder``."""
    archive = folder / "code.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), revision], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "code", filter="data")
    return folder / "code"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--before", default="main", help="the revision to compare with (default: main)")
    parser.add_argument("--show", type=int, default=40, help="how many removed and shortened lines to print")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsrag-clutter-") as folder:
        before = chunked(exported(args.before, Path(folder)), args.corpus.resolve())
    after = chunked(ROOT, args.corpus.resolve())
    changed_articles = changed_chunks = gone_chunks = 0
    removed: collections.Counter[str] = collections.Counter()
    shortened: list[tuple[str, str]] = []
    for key, new in after.items():
        old = before.get(key, {"text": "", "chunks": []})
        old_chunks, new_chunks = set(old["chunks"]), set(new["chunks"])  # type: ignore[arg-type]
        changed_chunks += len(new_chunks - old_chunks)
        gone_chunks += len(old_chunks - new_chunks)
        if old["text"] != new["text"]:
            changed_articles += 1
            new_lines = set(str(new["text"]).split("\n"))
            for line in str(old["text"]).split("\n"):
                if line and line not in new_lines:
                    kept = [n for n in new_lines if len(n) > 20 and (line.startswith(n) or line.endswith(n))]
                    if kept:
                        shortened.append((line, max(kept, key=len)))
                    else:
                        removed[line] += 1
    result = {
        "corpus": str(args.corpus), "before": args.before, "articles": len(after),
        "articles_changed": changed_articles,
        "chunks_before": sum(len(a["chunks"]) for a in before.values()),  # type: ignore[arg-type, misc]
        "chunks_after": sum(len(a["chunks"]) for a in after.values()),  # type: ignore[arg-type, misc]
        "chunks_changed": changed_chunks, "chunks_gone": gone_chunks,
        "lines_removed": sum(removed.values()), "lines_shortened": len(shortened),
    }
    print(json.dumps(result, indent=2))
    print(f"\nlines removed (distinct {len(removed)}), most frequent first:")
    for line, count in removed.most_common(args.show):
        print(f"{count:5d}  {line[:150]}")
    print(f"\nlines shortened ({len(shortened)}), first {args.show}: the removed part")
    for line, kept in shortened[: args.show]:
        print("      " + line.replace(kept, "…", 1)[:150])
    save("clutter", result)


if __name__ == "__main__":
    main()
