"""A run killed with SIGKILL mid-ingest, then run again: every article indexed completely, exactly once."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.index import ingest_paths
from rag.store import open_store

from .conftest import make_settings
from .test_ingest import check_consistent

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
TOPICS = ["harbour", "railway", "election", "drought", "museum", "vaccine", "festival", "bridge", "budget", "storm"]


def make_corpus(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        paragraphs = [
            " ".join(
                f"In report {i}, paragraph {p}, officials in district {i * 7 + p} discussed the {topic} plan "
                f"number {s} and its cost of {i * 100 + p * 10 + s} thousand crowns." for s in range(6)
            )
            for p in range(5)
        ]
        (folder / f"report_{i:03d}.txt").write_text(f"date 2024-01-{i % 28 + 1:02d} Report {i} on the {topic}\n\n"
                                                    + "\n\n".join(paragraphs))


def start_ingest(config: Path, folder: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "--config", str(config), "ingest", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env,
    )


def wait_for_first_write(proc: subprocess.Popen[str], deadline: float = 180) -> None:
    assert proc.stdout is not None
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip().startswith("added"):
            return
    proc.kill()
    pytest.fail("the ingest child never wrote an article")


ARTICLES_IN_RUN = 40
_RNG = random.Random(2026)
DELAYS = [0.0] + sorted(round(_RNG.uniform(0.05, 2.5), 2) for _ in range(9))  # 10 trials at seeded random points


@pytest.mark.parametrize("delay", DELAYS)
def test_sigkill_then_rerun_leaves_every_article_once(tmp_path, embedder, delay):
    folder = tmp_path / "articles"
    make_corpus(folder, ARTICLES_IN_RUN)
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{folder}"\nindex_dir = "{tmp_path / "index"}"\n'
                      "[ingest]\nbatch_chunks = 6\n")
    proc = start_ingest(config, folder)
    wait_for_first_write(proc)
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=30)

    settings = make_settings(tmp_path, folder, ingest={"batch_chunks": 6})
    store = open_store(settings, embedder.name)
    interrupted = len([r for r in store.records().values() if r.status == "done"])
    assert 0 < interrupted < ARTICLES_IN_RUN, "the kill must land in the middle of the ingest"

    report = ingest_paths([folder], settings, embedder=embedder)
    assert not report.failed
    assert report.totals["added"] + report.totals["updated"] + report.totals["unchanged"] == ARTICLES_IN_RUN
    done = check_consistent(store)
    assert len(done) == ARTICLES_IN_RUN
    assert store.count_chunks() == sum(r.chunks for r in done.values())
    # the BM25 index reflects exactly what Chroma holds
    from rag.bm25 import lexical_cache

    lexical = lexical_cache(settings, store).get()
    assert sorted(lexical.chunk_ids) == sorted(c["id"] for c in store.iter_chunks(include=[]))
    again = ingest_paths([folder], settings, embedder=embedder)
    assert again.totals["unchanged"] == ARTICLES_IN_RUN and again.chunks_embedded == 0
