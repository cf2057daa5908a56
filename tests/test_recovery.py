"""States an index can be left in, and the run or message that follows: a damaged lexical index, an
edited original of an aliased duplicate, articles reached through symlinks, an interrupted ingest as
``stats`` reports it, and a full disk or a read-only index folder."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ingest.index import ingest_paths
from rag.errors import DiskFullError, IndexBusyError, ReadOnlyIndexError, StoreError, index_error
from rag.service import Done, ask
from rag.store import get_store

from .conftest import ARTICLES, make_settings
from .test_crash import forget_store, saved_lexical_agrees
from .test_ingest import check_consistent, outcomes

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which town will host the first Glowfish Festival?"
NEW_ARTICLE = ("Ferry timetable approved\n\n" + "The harbour board of Quellport approved a new ferry timetable on "
               "Tuesday, adding two evening crossings to the island of Brask. " * 4)


def lexical_agrees(settings, embedder) -> None:
    saved_lexical_agrees(settings, get_store(settings, embedder.name))


# -- a damaged lexical index ---------------------------------------------------------------------------


def _meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text())


def _write_meta(folder: Path, **changes: object) -> None:
    (folder / "meta.json").write_text(json.dumps({**_meta(folder), **changes}))


def _segment(folder: Path) -> Path:
    return folder / f"{_meta(folder)['segments'][0]['name']}.npz"


def _terms(folder: Path) -> Path:
    return folder / _meta(folder)["terms_file"]


def _rewrite_segment(folder: Path, change) -> None:
    """Write the first segment again with ``change(arrays)`` applied: a whole, loadable file that says something else."""
    path = _segment(folder)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(change(arrays))
    np.savez(path, **arrays)


def _stranger(arrays: dict) -> dict:
    ids = arrays["ids"].tobytes().decode().split("\n")
    return {"ids": np.frombuffer("\n".join(["stranger", *ids[1:]]).encode(), dtype=np.uint8)}


DAMAGE = {
    "not JSON": lambda f: (f / "meta.json").write_text('{"version": "abc", "segments": ['),
    "a list": lambda f: (f / "meta.json").write_text("[]"),
    "version a number": lambda f: _write_meta(f, version=12),
    "segments a string": lambda f: _write_meta(f, segments="seg-1"),
    "a segment one chunk short": lambda f: _write_meta(f, segments=[{**e, "rows": e["rows"] - 1} for e in _meta(f)["segments"]]),
    "meta.json deleted": lambda f: (f / "meta.json").unlink(),
    "segment deleted": lambda f: _segment(f).unlink(),
    "segment garbage": lambda f: _segment(f).write_bytes(b"PK\x03\x04 garbage"),
    "segment dates floats": lambda f: _rewrite_segment(f, lambda a: {"dates": a["dates"].astype(np.float64)}),
    "segment postings cut": lambda f: _rewrite_segment(f, lambda a: {"rows": a["rows"][:-1]}),
    "term file deleted": lambda f: _terms(f).unlink(),
    "term file garbage": lambda f: _terms(f).write_text("{oops"),
    "an id swapped for a stranger": lambda f: _rewrite_segment(f, _stranger),
}


@pytest.fixture(scope="module")
def indexed_copy(tmp_path_factory, embedder):
    base = tmp_path_factory.mktemp("lexical-base")
    settings = make_settings(base, ARTICLES)
    ingest_paths([ARTICLES], settings, embedder=embedder)
    forget_store(settings)
    return base


@pytest.mark.integration
@pytest.mark.parametrize("damage", list(DAMAGE), ids=lambda d: d.replace(" ", "-"))
def test_damaged_lexical_index_is_rebuilt_and_said(tmp_path, embedder, indexed_copy, damage, caplog):
    shutil.copytree(indexed_copy / "index", tmp_path / "index")
    settings = make_settings(tmp_path, ARTICLES)
    folder = settings.index_dir / "bm25" / settings.store.collection
    DAMAGE[damage](folder)
    # ask still answers, and the warning names what was wrong
    last = list(ask(QUESTION, None, None, settings))[-1]
    assert isinstance(last, Done) and "Quillhaven" in last.answer.text
    warned = [r.getMessage() for r in caplog.records if "lexical index" in r.getMessage()]
    assert warned and "damaged" in warned[0], caplog.text
    lexical_agrees(settings, embedder)
    # damaged again: an ingest with nothing else to do repairs it and reports it
    DAMAGE[damage](folder)
    report = ingest_paths([ARTICLES], settings, embedder=embedder)
    assert report.totals["unchanged"] == 6 and len(report.notes) == 1, report.notes
    assert "lexical index" in report.notes[0] and "damaged" in report.notes[0]
    lexical_agrees(settings, embedder)
    assert not ingest_paths([ARTICLES], settings, embedder=embedder).notes


# -- aliases whose original changes -------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("alias_in_run", [True, False], ids=["alias-in-run", "alias-not-in-run"])
def test_editing_the_original_of_an_alias_keeps_both_texts_in_one_run(tmp_path, embedder, alias_in_run):
    folder = tmp_path / "articles"
    folder.mkdir()
    original, alias = folder / "a_original.txt", folder / "b_copy.txt"
    text = (ARTICLES / "glowfish_festival.txt").read_text()
    original.write_text(text)
    alias.write_text(text)
    settings = make_settings(tmp_path, folder)
    first = ingest_paths([folder], settings, embedder=embedder)
    assert outcomes(first) == {"a_original.txt": "added", "b_copy.txt": "duplicate"}
    original.write_text(text.replace("Quillhaven", "Marrowby"))
    report = ingest_paths([folder] if alias_in_run else [original], settings, embedder=embedder)
    assert outcomes(report) == {"a_original.txt": "updated", "b_copy.txt": "added"}
    store = get_store(settings, embedder.name)
    done = check_consistent(store)
    assert sorted(r.source for r in done.values()) == ["a_original.txt", "b_copy.txt"]
    texts = {r.source: " ".join(c["document"] for c in store.iter_chunks() if c["metadata"]["article_id"] == r.id)
             for r in done.values()}
    assert "Quillhaven" in texts["b_copy.txt"] and "Marrowby" not in texts["b_copy.txt"]
    assert "Marrowby" in texts["a_original.txt"] and "Quillhaven" not in texts["a_original.txt"]
    lexical_agrees(settings, embedder)
    again = ingest_paths([folder], settings, embedder=embedder)
    assert again.totals["unchanged"] == 2 and again.chunks_embedded == 0


@pytest.mark.integration
def test_alias_whose_original_is_pruned_from_another_folder_is_indexed(tmp_path, embedder):
    folder = tmp_path / "articles"
    (folder / "one").mkdir(parents=True)
    (folder / "two").mkdir()
    text = (ARTICLES / "glowfish_festival.txt").read_text()
    (folder / "one" / "original.txt").write_text(text)
    (folder / "two" / "copy.txt").write_text(text)
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    (folder / "one" / "original.txt").unlink()
    report = ingest_paths([folder / "one"], settings, embedder=embedder, prune=True)
    assert outcomes(report) == {"one/original.txt": "removed", "two/copy.txt": "added"}
    assert [r.source for r in check_consistent(get_store(settings, embedder.name)).values()] == ["two/copy.txt"]


# -- symlinks --------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_articles_reached_through_symlinks_are_named_by_the_link_and_pruned_with_it(tmp_path, embedder):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "more").mkdir(parents=True)
    shutil.copy(ARTICLES / "glowfish_festival.txt", elsewhere / "glowfish.txt")
    shutil.copy(ARTICLES / "rail_strike.md", elsewhere / "more" / "rail.md")
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(ARTICLES / "observatory.json", folder / "observatory.json")
    (folder / "linked.txt").symlink_to(elsewhere / "glowfish.txt")
    (folder / "linked_folder").symlink_to(elsewhere / "more")
    (folder / "loop").symlink_to(folder)  # walked once, not forever
    (folder / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    settings = make_settings(tmp_path, folder)
    first = ingest_paths([folder], settings, embedder=embedder)
    assert outcomes(first) == {"observatory.json": "added", "linked.txt": "added", "linked_folder/rail.md": "added"}
    (folder / "linked.txt").unlink()
    (folder / "linked_folder").unlink()
    pruned = ingest_paths([folder], settings, embedder=embedder, prune=True)
    assert outcomes(pruned) == {"observatory.json": "unchanged", "linked.txt": "removed", "linked_folder/rail.md": "removed"}
    assert (elsewhere / "glowfish.txt").exists()  # the target is never touched
    (folder / "gone.txt").symlink_to(elsewhere / "glowfish.txt")
    ingest_paths([folder], settings, embedder=embedder)
    (elsewhere / "glowfish.txt").unlink()  # the link now points nowhere
    pruned = ingest_paths([folder], settings, embedder=embedder, prune=True)
    item = next(i for i in pruned.items if i.source == "gone.txt")
    assert item.outcome == "removed" and item.reason == "its link points nowhere"
    assert [r.source for r in check_consistent(get_store(settings, embedder.name)).values()] == ["observatory.json"]


# -- an interrupted ingest, as stats reports it ---------------------------------------------------------


@pytest.mark.integration
def test_stats_says_an_ingest_was_interrupted_and_what_the_next_run_does(tmp_path, settings, embedder, capsys):
    from rag import cli

    from .test_crash import start_ingest

    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{settings.articles_dir}"\nindex_dir = "{settings.index_dir}"\n')
    proc = start_ingest(config, settings.articles_dir, ("Store", "put_records", 2))  # killed before a batch is done
    assert proc.wait(timeout=300) == -9
    assert cli.main(["--config", str(config), "stats"]) == 0
    out = capsys.readouterr().out
    assert "interrupted:" in out and "counts are partial" in out and "half-written" in out
    assert "the next `newsrag ingest` will finish or undo them" in out
    assert cli.main(["--config", str(config), "stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["interrupted"]["pending"] >= 1 and "next `newsrag ingest`" in data["interrupted"]["note"]
    forget_store(settings)
    assert cli.main(["--config", str(config), "ingest"]) == 0
    assert "repaired: the previous ingest was interrupted" in capsys.readouterr().out
    assert cli.main(["--config", str(config), "stats"]) == 0
    assert "interrupted" not in capsys.readouterr().out


# -- a full disk, a read-only folder ------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("raised", "kind", "words"), [
    (OSError(errno.ENOSPC, "No space left on device"), DiskFullError, "No space left"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), DiskFullError, "No space left"),
    (RuntimeError("error returned from database: (code: 13) database or disk is full"), DiskFullError, "No space left"),
    (RuntimeError("Failed to write hnsw: No space left on device (os error 28)"), DiskFullError, "No space left"),
    (OSError(errno.EROFS, "Read-only file system"), ReadOnlyIndexError, "EROFS"),
    (PermissionError(errno.EACCES, "Permission denied"), ReadOnlyIndexError, "EACCES"),
    (PermissionError(errno.EPERM, "Operation not permitted"), ReadOnlyIndexError, "EPERM"),
    (RuntimeError("error returned from database: (code: 8) attempt to write a readonly database"), ReadOnlyIndexError,
     "read-only"),
    (RuntimeError("error returned from database: (code: 5) database is locked"), IndexBusyError, "is busy"),
    (OSError(errno.EMFILE, "Too many open files"), StoreError, "ulimit -n"),
])
def test_disk_errors_say_what_happened_and_that_the_index_is_intact(raised, kind, words):
    try:
        raise RuntimeError("Chroma wrapped it") from raised
    except RuntimeError as wrapped:
        error = index_error(wrapped, "/data/index")
    assert isinstance(error, kind) and isinstance(error, StoreError)
    message = str(error)
    assert words in message and "/data/index" in message and "The index is as it was" in message
    assert "Move that folder away" not in message


@pytest.mark.unit
def test_other_errors_are_not_disk_errors():
    assert index_error(ValueError("no such table: embeddings"), "/x") is None
    assert index_error(OSError(errno.EIO, "I/O error"), "/x") is None


@pytest.mark.integration
def test_disk_full_mid_ingest_is_reported_and_the_old_index_is_intact(tmp_path, settings, embedder, monkeypatch,
                                                                     capsys):
    from rag import cli

    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    before = store.stats()
    (settings.articles_dir / "new.txt").write_text(NEW_ARTICLE)
    original = type(store.chunks).upsert

    def full(self, *args, **kwargs):
        if self.name != store.chunks.name:
            return original(self, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(store.chunks), "upsert", full)
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{settings.articles_dir}"\nindex_dir = "{settings.index_dir}"\n')
    assert cli.main(["--config", str(config), "ingest"]) == 1
    err = capsys.readouterr().err
    assert "No space left on the disk" in err and "ENOSPC" in err and "Move that folder away" not in err
    assert "Traceback" not in err
    monkeypatch.setattr(type(store.chunks), "upsert", original)
    after = store.stats()
    assert (after.articles, after.chunks) == (before.articles, before.chunks)
    assert after.interrupted is not None  # the failed run says so until the next one finishes
    last = list(ask(QUESTION, None, None, settings))[-1]
    assert isinstance(last, Done) and "Quillhaven" in last.answer.text
    report = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    assert report.totals["added"] == 1 and store.stats().interrupted is None
    check_consistent(store)


def _without_root_powers() -> list[str]:
    """A command prefix under which permission bits bind (root drops the capabilities that bypass them)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    pytest.skip("running as root, where chmod does not restrict, and setpriv is not available")


@pytest.mark.integration
def test_read_only_index_folder_is_reported_as_such_and_left_intact(tmp_path, settings, embedder):
    prefix = _without_root_powers()
    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    before = get_store(settings, embedder.name).stats()
    forget_store(settings)
    (settings.articles_dir / "new.txt").write_text(NEW_ARTICLE)
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{settings.articles_dir}"\nindex_dir = "{settings.index_dir}"\n')
    modes = {p: p.stat().st_mode for p in [settings.index_dir, *settings.index_dir.rglob("*")]}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        probe = subprocess.run([*prefix, sys.executable, "-c", "open(__import__('sys').argv[1], 'w')",
                                str(settings.index_dir / "probe")], capture_output=True)
        if probe.returncode == 0:
            pytest.skip("chmod does not restrict this user")
        for command in (["ingest"], ["stats"], ["ask", QUESTION]):
            out = subprocess.run([*prefix, sys.executable, "-m", "rag.cli", "--config", str(config), *command],
                                 cwd=ROOT, capture_output=True, text=True, timeout=180)
            assert out.returncode == 1, (command, out.stderr[-2000:])
            assert "cannot be written" in out.stderr and "The index is as it was" in out.stderr, out.stderr[-2000:]
            assert "Move that folder away" not in out.stderr and "Traceback" not in out.stderr
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    after = get_store(settings, embedder.name).stats()
    assert (after.articles, after.chunks) == (before.articles, before.chunks)
    check_consistent(get_store(settings, embedder.name))


@pytest.mark.unit
@pytest.mark.parametrize(("number", "words"), [(errno.ENOSPC, "no space left on the disk (ENOSPC)"),
                                               (errno.EROFS, "the folder cannot be written (EROFS)"),
                                               (errno.EACCES, "the folder cannot be written (EACCES)")])
def test_uploads_and_pastes_on_a_full_or_read_only_disk_say_so_and_leave_nothing(tmp_path, monkeypatch, number, words):
    from ingest import uploads
    from rag.errors import SaveError

    settings = make_settings(tmp_path)

    def refuse(*args, **kwargs):
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(uploads.shutil, "copyfile", refuse)
    monkeypatch.setattr(Path, "write_bytes", refuse)
    saved = uploads.save_uploads([("story.txt", ARTICLES / "glowfish_festival.txt")], settings)
    assert saved[0].path is None and saved[0].reason == f"not saved: {words}"
    with pytest.raises(SaveError, match=words.replace("(", r"\(").replace(")", r"\)")):
        uploads.save_pasted("A title", "Some text of a pasted article.", settings)
    folder = settings.articles_dir / uploads.UPLOAD_FOLDER
    assert list(folder.iterdir()) == []  # no half-written temporary file left behind


@pytest.mark.unit
def test_an_interruption_is_shown_before_the_counts_in_the_ui():
    from rag.schema import IndexStats, Interruption
    from ui.render import stats_markdown

    stats = IndexStats(articles=3, chunks=9, aliases=0, outlets=(), first_date=None, last_date=None, location="/i",
                       embedding_model="m", interrupted=Interruption(started=0.0, running=False, pending=2))
    text = stats_markdown(stats)
    assert text.startswith("⚠️ **Partial counts**: the ingest started at an unknown time was interrupted")
    assert "2 article(s) were left half-written; the next `newsrag ingest` will finish or undo them" in text
    running = Interruption(started=1.7e9, running=True, pending=0).describe()
    assert running.startswith("an ingest started at 20") and "under way" in running
    assert "**3** articles" in stats_markdown(IndexStats(3, 9, 0, (), None, None, "/i", "m"))


@pytest.mark.integration
def test_a_copy_that_fails_midway_never_leaves_the_target_lexical_index_stale(tmp_path, embedder, monkeypatch):
    from rag.lexical import build_lexical_cache
    from rag.store import Store, copy_store

    source_settings = make_settings(tmp_path / "source", ARTICLES)
    ingest_paths([ARTICLES], source_settings, embedder=embedder)
    target_settings = make_settings(tmp_path / "target", ARTICLES)
    target = get_store(target_settings, embedder.name)
    build_lexical_cache(target_settings, target).refresh()  # the target's (empty) lexical index, saved as current

    def fail(self, records):
        raise StoreError("the server went away")

    monkeypatch.setattr(Store, "put_records", fail)  # every chunk copied, no record
    with pytest.raises(StoreError):
        copy_store(get_store(source_settings, embedder.name), target)
    monkeypatch.undo()
    got = build_lexical_cache(target_settings, target).get()
    assert sorted(got.chunk_ids) == sorted(c["id"] for c in target.iter_chunks(include=[])) != []
