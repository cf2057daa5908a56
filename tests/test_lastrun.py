"""The unchanged re-run (issue 16): an ingest of files that a clean run has just read says so from its
record without importing Chroma, the embedder or numpy; any change to the files, the settings, the code,
the packages or the index, and any sign of an unfinished run, sends it down the full path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

import pytest

from ingest import lastrun
from ingest.index import ingest_paths
from rag import marker
from rag.lexical import LexicalIndex
from rag.store import get_store

from .conftest import ARTICLES, BAD, make_settings
from .test_crash import forget_store

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("chromadb", "onnxruntime", "torch", "sentence_transformers", "transformers", "numpy", "tokenizers")
ARTICLE_COUNT = 6  # in tests/data/articles

# ``newsrag`` in a child, then the heavy modules it imported, as JSON on the last line of stderr
CHILD = r"""
import json, sys
from rag.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in HEAVY if m in sys.modules)
sys.stderr.write("\n" + json.dumps(heavy) + "\n")
sys.exit(code)
""".replace("HEAVY", repr(HEAVY))


def newsrag(config: Path, *args: str) -> tuple[int, str, list[str]]:
    """Run ``newsrag --config config ARGS`` in a child: exit code, stdout, heavy modules imported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, "--config", str(config), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc.returncode, proc.stdout, heavy


def config_for(settings) -> Path:
    config = settings.base_dir / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{settings.articles_dir}"\nindex_dir = "{settings.index_dir}"\n')
    return config


def same_size_edit(path: Path) -> None:
    """Change the file's text, keeping its size and putting its modification time back to the nanosecond."""
    before = path.stat()
    text = path.read_bytes()
    assert b"the" in text
    path.write_bytes(text.replace(b"the", b"THE", 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert after.st_size == before.st_size and after.st_mtime_ns == before.st_mtime_ns


def lexical_folder(settings) -> Path:
    return settings.index_dir / "bm25" / settings.store.collection


def _term_file(settings) -> Path:
    return lexical_folder(settings) / json.loads((lexical_folder(settings) / "meta.json").read_text())["terms_file"]


# Each change: what it does to (settings, folder), returning the settings and paths the check runs with,
# and words of the reason it must give.
def _settings(**sections):
    return lambda s, f: (s.replace(**sections), [f])


def _file(action):
    def change(s, f):
        action(f)
        return s, [f]
    return change


def _index(action):
    def change(s, f):
        action(s)
        return s, [f]
    return change


def _damage_record(s):
    path = lastrun.location(s)
    path.write_text(path.read_text().replace('"unchanged"', '"unchanged "', 1))


def _marker_only(s):
    """A marker as a killed run leaves it, the record left in place (as an older newsrag would leave it)."""
    (s.index_dir / marker.MARKER).write_text(json.dumps({"started": time.time(), "pid": 1}))


def _older_newsrag_run(s):
    """An ingest by a newsrag that predates records: its marker comes and goes, the record stays."""
    time.sleep(0.05)  # later than the record by more than a clock tick
    (s.index_dir / marker.MARKER).write_text(json.dumps({"started": time.time(), "pid": 1}))
    (s.index_dir / marker.MARKER).unlink()


def _replace_chroma(s):
    chroma = s.index_dir / "chroma"
    shutil.copytree(chroma, s.index_dir / "chroma.copy")
    shutil.rmtree(chroma)
    (s.index_dir / "chroma.copy").rename(chroma)


def _new_file(f):
    (f / "ferry.txt").write_text("Ferry timetable approved\n\nThe harbour board of Quellport approved a timetable.")


CHANGES = {
    "a file edited, same size and modification time": (_file(lambda f: same_size_edit(f / "glowfish_festival.txt")),
                                                       "glowfish_festival.txt changed"),
    "a file added": (_file(_new_file), "added, removed or renamed"),
    "a file deleted": (_file(lambda f: (f / "rail_strike.md").unlink()), "added, removed or renamed"),
    "a file renamed": (_file(lambda f: (f / "rail_strike.md").rename(f / "rail.md")), "added, removed or renamed"),
    "a chunking setting": (_settings(chunk={"chunk_tokens": 120}), "settings"),
    "an embedding setting": (_settings(embed={"quantize": False}), "settings"),
    "the collection": (_settings(store={"collection": "other"}), "no last-run file"),
    "a marker left by a killed run": (_index(_marker_only), "did not finish"),
    "an ingest by an older newsrag": (_index(_older_newsrag_run), "index folder changed"),
    "the lexical index deleted": (_index(lambda s: shutil.rmtree(lexical_folder(s))), "lexical index changed"),
    "the lexical index damaged": (_index(lambda s: _term_file(s).write_text("{oops")),
                                  "lexical index changed"),
    "the record damaged": (_index(_damage_record), "damaged"),
    "the record deleted": (_index(lambda s: lastrun.location(s).unlink()), "no last-run file"),
    "Chroma's folder replaced by a copy": (_index(_replace_chroma), "changed"),
    "the store written to (a copy into it)": (_index(lambda s: get_store(s, "all-MiniLM-L6-v2").touch()), "no last-run file"),
    "--prune after a run without it": (lambda s, f: (s, [f, "--prune"]), "--prune"),
    "other paths": (lambda s, f: (s, [f / "wire.jsonl"]), "other paths"),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A copy of tests/data/articles for each test, all made at once and then left to settle for longer than
    ``RACY_SECONDS``, so that the runs that record them trust their timestamps."""
    base = tmp_path_factory.mktemp("lastrun")
    out = {}
    for name in [*CHANGES, "fast", "cli", "racy", "lexical-unsaved", "next-day"]:
        out[name] = base / name.replace(" ", "-").replace("'", "") / "articles"
        shutil.copytree(ARTICLES, out[name])
    shutil.copy(BAD / "empty.txt", out["fast"] / "empty.txt")  # a failure
    shutil.copy(ARTICLES / "glowfish_festival.txt", out["fast"] / "z_glowfish_copy.txt")  # a duplicate (an alias)
    time.sleep(lastrun.RACY_SECONDS + 0.2)
    return out


def recorded(tmp_path: Path, folder: Path, embedder):
    """Settings for an index in ``tmp_path`` of ``folder``, ingested once: the record is written."""
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    assert lastrun.unchanged([folder], settings)[0] is not None, lastrun.unchanged([folder], settings)[1]
    return settings


def test_an_unchanged_rerun_imports_nothing_heavy_and_reports_what_the_full_run_reports(tmp_path, folders, embedder):
    folder = folders["fast"]
    settings = make_settings(tmp_path, folder)
    first = ingest_paths([folder], settings, embedder=embedder)
    assert first.totals["added"] == ARTICLE_COUNT and first.totals["duplicate"] == 1 and first.totals["failed"] == 1
    forget_store(settings)
    config = config_for(settings)
    code, out, heavy = newsrag(config, "ingest", "--json", str(folder))
    assert heavy == [] and code == 1  # exit 1: a file failed, as in the full run
    quick = json.loads(out)
    # the same report as a full run that finds everything unchanged (which opens Chroma and reads every file)
    full = ingest_paths([folder], settings, embedder=embedder)
    assert full.totals["unchanged"] == ARTICLE_COUNT and not full.notes
    assert quick["items"] == [asdict(i) for i in full.items]
    assert quick["totals"] == full.totals and quick["chunks_embedded"] == 0 and quick["notes"] == []
    forget_store(settings)
    code, out, heavy = newsrag(config, "ingest", str(folder))
    assert heavy == [] and code == 1
    assert "failed  empty.txt  -- empty file" in out
    assert "duplicate  z_glowfish_copy.txt  -- same text as glowfish_festival.txt" in out
    # the time is whatever the machine took (a loaded one: 0.1 s): only the shape of the line is the report's
    assert re.search(rf"{ARTICLE_COUNT} unchanged, 1 duplicate, 1 failed in \d+\.\ds \(0 chunks embedded\)", out)


@pytest.mark.parametrize("change", list(CHANGES), ids=lambda c: c.replace(" ", "-"))
def test_any_change_takes_the_full_path(tmp_path, folders, embedder, change):
    folder = folders[change]
    settings = recorded(tmp_path, folder, embedder)
    apply, words = CHANGES[change]
    settings, args = apply(settings, folder)
    paths = [a for a in args if a != "--prune"]
    report, why = lastrun.unchanged(paths, settings, prune="--prune" in args)
    assert report is None and words in why, why


def test_a_change_is_ingested_by_the_full_path_and_the_run_after_it_is_quick_again(tmp_path, folders, embedder):
    folder = folders["cli"]
    settings = recorded(tmp_path, folder, embedder)
    forget_store(settings)
    config = config_for(settings)
    same_size_edit(folder / "glowfish_festival.txt")
    code, out, heavy = newsrag(config, "ingest", str(folder))
    assert code == 0 and "updated  glowfish_festival.txt" in out and f"1 updated, {ARTICLE_COUNT - 1} unchanged" in out
    assert "chromadb" in heavy and "onnxruntime" in heavy
    # once the edit is older than RACY_SECONDS a run records it as settled (that run, or the one before if
    # the edit was already that old when it read the file), and the run after that is quick
    time.sleep(lastrun.RACY_SECONDS)
    code, out, _heavy = newsrag(config, "ingest", str(folder))
    assert code == 0 and f"{ARTICLE_COUNT} unchanged" in out
    code, out, heavy = newsrag(config, "ingest", str(folder))
    assert code == 0 and re.search(rf"{ARTICLE_COUNT} unchanged in \d+\.\ds", out) and heavy == []


def test_a_file_changed_just_before_the_run_is_read_again_by_the_next(tmp_path, folders, embedder):
    """Racy timestamps: a second write within the same tick would leave size and times as they were, so a
    file changed less than RACY_SECONDS before a run is recorded as unknown until a later run finds it settled."""
    folder = folders["racy"]
    settings = make_settings(tmp_path, folder)
    store = get_store(settings, embedder.name)  # opened first, so the run reads the file right after the edit
    same_size_edit(folder / "wire.jsonl")
    ingest_paths([folder], settings, embedder=embedder, store=store)
    report, why = lastrun.unchanged([folder], settings)
    assert report is None and "wire.jsonl had changed just before the last run" in why
    time.sleep(lastrun.RACY_SECONDS)
    assert ingest_paths([folder], settings, embedder=embedder, store=store).totals["unchanged"] == ARTICLE_COUNT
    assert lastrun.unchanged([folder], settings)[0] is not None


def test_no_record_when_the_lexical_index_could_not_be_saved(tmp_path, folders, embedder, monkeypatch):
    folder = folders["lexical-unsaved"]
    settings = make_settings(tmp_path, folder)

    def full_disk(self, folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LexicalIndex, "save", full_disk)
    ingest_paths([folder], settings, embedder=embedder)
    report, why = lastrun.unchanged([folder], settings)
    assert report is None and "no last-run file" in why
    monkeypatch.undo()
    ingest_paths([folder], settings, embedder=embedder)  # saves it, and so records the run
    assert lastrun.unchanged([folder], settings)[0] is not None


def test_a_chroma_server_always_takes_the_full_path(tmp_path):
    settings = make_settings(tmp_path, tmp_path, store={"mode": "http"})
    report, why = lastrun.unchanged([tmp_path], settings)
    assert report is None and "Chroma server" in why


def test_the_key_changes_with_newsrags_code_and_the_installed_packages(tmp_path, monkeypatch):
    """A copy of rag/ and ingest/ with one comment added keys differently; so does a package folder's change."""
    code = tmp_path / "code"
    for package in ("rag", "ingest"):
        shutil.copytree(ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    script = ("from pathlib import Path; from ingest.lastrun import key; from rag.config import Settings, PathsSettings; "
              f"folder = Path({str(tmp_path)!r}); "
              "print(key(Settings(paths=PathsSettings(articles_dir=folder, index_dir=folder)), '2026-01-02'))")

    def key_of_copy() -> str:
        env = {**os.environ, "PYTHONPATH": str(code)}
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True,
                              cwd=tmp_path).stdout.strip()

    before = key_of_copy()
    assert key_of_copy() == before
    with (code / "ingest" / "clean.py").open("a") as handle:
        handle.write("\n# a change to how articles are cleaned\n")
    assert key_of_copy() != before

    settings = make_settings(tmp_path, tmp_path)
    packages = tmp_path / "site-packages"
    packages.mkdir()
    monkeypatch.setattr(lastrun.site, "getsitepackages", lambda: [str(packages)])
    before = lastrun.key(settings, "2026-01-02")
    (packages / "newpkg-1.0.dist-info").mkdir()
    assert lastrun.key(settings, "2026-01-02") != before


def test_the_first_run_of_a_new_day_takes_the_full_path(tmp_path, folders, embedder, monkeypatch):
    """A dateline without a year is read as the latest such day on or before the day of the run, so a later
    day may read another date from the same file."""
    folder = folders["next-day"]
    settings = recorded(tmp_path, folder, embedder)

    class Tomorrow(date):
        @classmethod
        def today(cls):
            return date.fromordinal(date.today().toordinal() + 1)

    monkeypatch.setattr(lastrun, "date", Tomorrow)
    report, why = lastrun.unchanged([folder], settings)
    assert report is None and "the day changed" in why, why
