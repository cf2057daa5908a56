"""Ingests killed with SIGKILL, then run again: every article indexed completely, exactly once, and the
lexical (BM25) index holding exactly Chroma's chunks; a second run then changes nothing.

Two kinds of kill, both real: at named points inside a run (a ``newsrag ingest`` child that SIGKILLs
itself when it reaches a given call), and at random times (a child killed after a seeded random delay),
``NEWSRAG_CRASH_TRIALS`` of them (20 here, about 2 minutes; ``bench/bench_crash.py`` runs 70) on one
shared corpus that every trial edits.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ingest.index import ingest_paths
from ingest.lastrun import unchanged
from rag.lexical import LexicalIndex
from rag.store import get_store

from .conftest import make_settings
from .test_ingest import check_consistent

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
TOPICS = ["harbour", "railway", "election", "drought", "museum", "vaccine", "festival", "bridge", "budget", "storm"]
TRIALS = int(os.environ.get("NEWSRAG_CRASH_TRIALS", "20"))  # bench/bench_crash.py runs 70
SEED = int(os.environ.get("NEWSRAG_CRASH_SEED", "2026"))


def report_text(i: int, topic: str, extra: str = "") -> str:
    paragraphs = [
        " ".join(f"In report {i}, paragraph {p}, officials in district {i * 7 + p} discussed the {topic} plan "
                 f"number {s} and its cost of {i * 100 + p * 10 + s} thousand crowns." for s in range(4))
        for p in range(3)
    ]
    return f"date 2024-01-{i % 28 + 1:02d} Report {i} on the {topic}\n\n" + "\n\n".join(paragraphs) + extra


def make_corpus(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"report_{i:03d}.txt").write_text(report_text(i, TOPICS[i % len(TOPICS)]))


def write_config(tmp_path: Path, folder: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{folder}"\nindex_dir = "{tmp_path / "index"}"\n'
                      "[ingest]\nbatch_chunks = 4\n")
    return config


def start_ingest(config: Path, folder: Path, kill_at: tuple[str, str, int] | None = None) -> subprocess.Popen[str]:
    """``newsrag ingest --prune folder`` in a child; with ``kill_at`` (object, attribute, n) the child
    SIGKILLs itself on the n-th call of that function, before the call does anything."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    args = ["--config", str(config), "ingest", "-q", "--prune", str(folder)]
    if kill_at is None:
        command = [sys.executable, "-m", "rag.cli", *args]
    else:
        command = [sys.executable, "-c", KILL_AT, *map(str, kill_at), *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=env)


KILL_AT = r"""
import os, signal, sys
from ingest import lastrun
from rag import lexical, marker, store, stories
owner = {"Store": store.Store, "LexicalIndex": lexical.LexicalIndex, "Segment": lexical.Segment, "lexical": lexical,
         "stories": stories, "marker": marker, "lastrun": lastrun}[sys.argv[1]]
name, nth, calls = sys.argv[2], int(sys.argv[3]), [0]
original = getattr(owner, name)
def kill_on_nth(*args, **kwargs):
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)
setattr(owner, name, kill_on_nth)
from rag.cli import main
sys.exit(main(sys.argv[4:]))
"""


def forget_store(settings) -> None:
    """Close this process's Chroma client of the index, so a child's writes are read afresh from disk
    and nothing this process cached can be written over them."""
    from chromadb.api.shared_system_client import SharedSystemClient

    from rag import store as store_module

    for key in [k for k in store_module._STORES if k[1] == str(settings.index_dir)]:
        store_module._STORES.pop(key).client._system.stop()
    SharedSystemClient.clear_system_cache()


def saved_lexical_agrees(settings, store) -> None:
    """The lexical index as saved (not one a query would rebuild) is whole, of the store's version, and
    holds exactly Chroma's chunk ids."""
    saved, problem = LexicalIndex.read(settings.index_dir / "bm25" / settings.store.collection)
    assert saved is not None and not problem and saved.version == store.version(), problem
    assert sorted(saved.chunk_ids) == sorted(c["id"] for c in store.iter_chunks(include=[]))


def saved_stories_agree(settings, store) -> None:
    """The story table as saved is of the store's version and holds exactly the done articles, each in the
    story its chunks carry."""
    from rag.stories import STORY_KEY, load_story_table

    table = load_story_table(settings)
    done = [r.id for r in store.records_with("done")]
    carried = {a: {m.get(STORY_KEY) for _, _, m in chunks} for a, chunks in store.story_chunks(done).items()}
    assert table.version == store.version()
    assert {a: {table.story_of(a)} for a in table.row} == carried


def check_agreement(settings, embedder, folder: Path) -> None:
    """A normal run repairs whatever the kill left; then Chroma, the manifest and the lexical index agree,
    every file's article is indexed (or an alias of an identical one), and a second run changes nothing."""
    report = ingest_paths([folder], settings, embedder=embedder, prune=True)
    assert not report.failed, report.items
    store = get_store(settings, embedder.name)
    done = check_consistent(store)
    records = store.records()
    files = sorted(p.name for p in folder.iterdir())
    assert sorted(r.source for r in records.values()) == files
    assert all(r.status == "done" or records[r.alias_of].status == "done" for r in records.values())
    saved_lexical_agrees(settings, store)
    saved_stories_agree(settings, store)
    assert store.count_chunks() == sum(r.chunks for r in done.values())
    assert store.stats().interrupted is None
    version = store.version()
    again = ingest_paths([folder], settings, embedder=embedder, prune=True)
    assert again.totals["unchanged"] + again.totals["duplicate"] == len(files), again.items
    assert again.chunks_embedded == 0 and not again.notes and store.version() == version
    forget_store(settings)


def edit_corpus(folder: Path, rng: random.Random, trial: int) -> None:
    """One trial's changes: an article edited, one added, one removed, and now and then an identical copy
    (an alias) or an edit of an article that has a copy."""
    files = sorted(folder.iterdir())
    edited = rng.choice(files)
    edited.write_text(edited.read_text() + f"\n\nUpdate {trial}: the council met again on day {trial}.")
    number = 100 + trial
    (folder / f"report_{number:03d}.txt").write_text(report_text(number, rng.choice(TOPICS)))
    rng.choice([f for f in files if f != edited]).unlink()
    if trial % 4 == 0:
        source = rng.choice(sorted(folder.iterdir()))
        (folder / f"copy_{trial:03d}.txt").write_text(source.read_text())


# -- kills at named points --------------------------------------------------------------------------------

KILL_POINTS = [
    ("Store", "touch", 1),  # before this run's first write (the version bump that marks the run)
    ("Store", "put_records", 1),  # pending records written, no chunk yet
    ("Store", "upsert_chunks", 2),  # some batches written
    ("Store", "delete_article_chunks", 1),  # an edited article's new chunks in, the old ones not yet out
    ("Store", "touch", 2),  # every chunk and record written, the closing version bump not yet
    ("LexicalIndex", "save", 1),  # the lexical index updated in memory, not yet saved
    ("Segment", "write", 1),  # the update's new words appended to the term file, its segment not yet written
    ("lexical", "commit", 1),  # the update's segment written, meta.json not yet replaced
    ("stories", "commit", 1),  # the story table's new segment written, its meta.json not yet replaced
    ("marker", "finish", 1),  # everything done but the marker's removal
]


@pytest.fixture(scope="module")
def base_index(tmp_path_factory, embedder):
    """Eight articles indexed once; each test copies the index and its folder."""
    base = tmp_path_factory.mktemp("crash-base")
    folder = base / "articles"
    make_corpus(folder, 8)
    settings = make_settings(base, folder, ingest={"batch_chunks": 4})
    ingest_paths([folder], settings, embedder=embedder)
    forget_store(settings)
    return base


@pytest.mark.parametrize("kill_at", KILL_POINTS, ids=lambda k: f"{k[0]}.{k[1]}#{k[2]}")
def test_kill_at_each_point_then_one_run_repairs_everything(tmp_path, embedder, base_index, kill_at):
    import shutil

    shutil.copytree(base_index / "articles", tmp_path / "articles")
    shutil.copytree(base_index / "index", tmp_path / "index")
    folder = tmp_path / "articles"
    edit_corpus(folder, random.Random(7), 0)
    settings = make_settings(tmp_path, folder, ingest={"batch_chunks": 4})
    proc = start_ingest(write_config(tmp_path, folder), folder, kill_at)
    assert proc.wait(timeout=300) == -9, "the child must reach the kill point"
    stats = get_store(settings, embedder.name).stats()
    assert stats.interrupted is not None and not stats.interrupted.running
    assert "interrupted" in stats.interrupted.describe() and "next `newsrag ingest`" in stats.interrupted.describe()
    assert unchanged([folder], settings, prune=True)[0] is None  # never the quick path after a kill
    forget_store(settings)
    check_agreement(settings, embedder, folder)


def test_kill_while_the_run_is_recorded_leaves_no_record(tmp_path, embedder, base_index):
    """Killed after the run finished but while writing its record (:mod:`ingest.lastrun`): no record, so
    the next run checks everything."""
    import shutil

    shutil.copytree(base_index / "articles", tmp_path / "articles")
    shutil.copytree(base_index / "index", tmp_path / "index")
    folder = tmp_path / "articles"
    settings = make_settings(tmp_path, folder, ingest={"batch_chunks": 4})
    proc = start_ingest(write_config(tmp_path, folder), folder, ("lastrun", "save", 1))
    assert proc.wait(timeout=300) == -9
    report, why = unchanged([folder], settings, prune=True)
    assert report is None and "no last-run file" in why
    check_agreement(settings, embedder, folder)


def test_kill_mid_prune_then_a_run_without_prune_repairs(tmp_path, embedder, base_index):
    """Killed between deleting a pruned article's chunks and its record: the next run, even without
    --prune, must not leave a done article without its chunks."""
    import shutil

    shutil.copytree(base_index / "articles", tmp_path / "articles")
    shutil.copytree(base_index / "index", tmp_path / "index")
    folder = tmp_path / "articles"
    (folder / "report_003.txt").unlink()
    settings = make_settings(tmp_path, folder, ingest={"batch_chunks": 4})
    proc = start_ingest(write_config(tmp_path, folder), folder, ("Store", "delete_records", 1))
    assert proc.wait(timeout=300) == -9
    report = ingest_paths([folder], settings, embedder=embedder)
    assert report.notes and "interrupted" in report.notes[0]
    store = get_store(settings, embedder.name)
    assert sorted(r.source for r in check_consistent(store).values()) == sorted(p.name for p in folder.iterdir())
    saved_lexical_agrees(settings, store)
    forget_store(settings)


# -- kills at random times ---------------------------------------------------------------------------------


def run_trials(tmp_path: Path, embedder, trials: int, seed: int, keep_going: bool = False) -> Counter[str]:
    """``trials`` rounds of: edit the corpus, start ``newsrag ingest --prune``, SIGKILL it at a random time,
    classify the state the kill left, then :func:`check_agreement`. Returns how the kills landed (and,
    with ``keep_going``, each failed check as "NOT REPAIRED: ..." instead of raising).

    A first, unkilled run measures how long a run's work lasts (from its marker appearing to its exit);
    then one kill in ten lands at a random time after the child starts (mostly before its run begins),
    and the others at a random time within that work."""
    rng = random.Random(seed)
    folder = tmp_path / "articles"
    make_corpus(folder, 10)
    settings = make_settings(tmp_path, folder, ingest={"batch_chunks": 4})
    config = write_config(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    forget_store(settings)
    edit_corpus(folder, rng, 0)
    started, began, ended, _ = run_child(config, settings.index_dir)
    check_agreement(settings, embedder, folder)
    work = ended - began
    outcomes: Counter[str] = Counter()
    for trial in range(1, trials + 1):
        edit_corpus(folder, rng, trial)
        early = rng.random() < 0.1
        code = run_child(config, settings.index_dir, rng.uniform(0, began - started) if early else None,
                         rng.uniform(0, work))[3]
        if code == 0:
            outcomes["finished before the kill"] += 1
        else:
            assert code == -9, f"trial {trial}: the child failed on its own (exit {code})"
            interrupted = get_store(settings, embedder.name).stats().interrupted
            if interrupted is None:
                outcomes["killed before the run began" if early else "killed after the run finished, while exiting"] += 1
            else:
                assert not interrupted.running
                outcomes["killed mid-run, articles half-written" if interrupted.pending else
                         "killed mid-run, nothing half-written"] += 1
            forget_store(settings)
        try:
            check_agreement(settings, embedder, folder)
        except AssertionError as exc:
            if not keep_going:
                raise
            outcomes[f"NOT REPAIRED: {str(exc)[:200]}"] += 1
            forget_store(settings)
    return outcomes


def run_child(config: Path, index_dir: Path, after_start: float | None = None,
              after_begin: float | None = None) -> tuple[float, float, float, int]:
    """Run ``newsrag ingest --prune`` once; SIGKILL it ``after_start`` seconds after it starts, or else
    ``after_begin`` seconds after its run begins (its marker appears); never, when both are None.
    Returns (start, run begun, end) as monotonic times, and the exit code (-9 when killed)."""
    from rag.marker import MARKER

    proc = start_ingest(config, config.parent / "articles")
    started = time.monotonic()
    if after_start is not None:
        return started, started, started, _kill_after(proc, after_start)
    while not (index_dir / MARKER).exists() and proc.poll() is None:
        time.sleep(0.01)
    began = time.monotonic()
    code = _kill_after(proc, after_begin) if after_begin is not None else proc.wait(timeout=300)
    return started, began, time.monotonic(), code


def _kill_after(proc: subprocess.Popen[str], seconds: float) -> int:
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=60)


def test_random_kills_then_one_run_repairs_everything(tmp_path, embedder):
    outcomes = run_trials(tmp_path, embedder, TRIALS, SEED)
    print(f"\n{TRIALS} kill trials (seed {SEED}): {dict(outcomes)}")
    assert sum(outcomes.values()) == TRIALS
    assert outcomes["killed mid-run, articles half-written"] + outcomes["killed mid-run, nothing half-written"] >= TRIALS // 3
