"""The story table's segments (rag/stories.py): saved and reloaded through random assignments, removals,
merges and reloads it is the table kept in memory; an ingest adds one segment; a table saved in the
single-file layout before segments is read and replaced; a reader whose segment a merge removed reads the
newer commit."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rag import stories
from rag.stories import Features, Params, StoryTable
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder
from tests.test_stories import OLIVES, STRIKE, write

NAMES = ["velmora", "ostrand", "quell", "sarnia", "kell", "aven", "mara", "union", "ministry"]
WORDS = ["strike", "rail", "pay", "olive", "harvest", "quake", "rescue", "rates", "talks"]


def random_features(rng: random.Random, dim: int = 6) -> Features:
    v = np.array([rng.gauss(0, 1) for _ in range(dim)], dtype=np.float32)
    day = 0 if rng.random() < 0.15 else date(2024, 2, 1).toordinal() + rng.randint(0, 30)
    return Features(v / np.linalg.norm(v), day, frozenset(rng.sample(WORDS, rng.randint(0, 3))),
                    frozenset(rng.sample(NAMES, rng.randint(0, 4))))


def agrees(table: StoryTable, reference: StoryTable, probes: list[Features]) -> None:
    """The same articles in the same stories with the same hashes, days, words and vectors, the same name
    counts, and the same scores for new articles."""
    assert {a: table.story_of(a) for a in table.row} == {a: reference.story_of(a) for a in reference.row}
    assert table.members == reference.members and table.df == reference.df
    for article_id in reference.row:
        mine, theirs = table.features(article_id), reference.features(article_id)
        assert mine is not None and theirs is not None
        assert (mine.day, mine.title, mine.names) == (theirs.day, theirs.title, theirs.names)
        assert np.array_equal(mine.vector, theirs.vector)
        assert table.hash[table.row[article_id]] == reference.hash[reference.row[article_id]]
    for probe in probes:
        assert table.scores(probe) == pytest.approx(reference.scores(probe))


@pytest.mark.unit
@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), steps=st.integers(1, 10), max_segments=st.integers(2, 4))
def test_a_saved_table_is_the_table_in_memory(tmp_path_factory, monkeypatch, seed, steps, max_segments):
    monkeypatch.setattr(stories, "MAX_SEGMENTS", max_segments)
    rng = random.Random(seed)
    folder = tmp_path_factory.mktemp("stories") / "news"
    params = Params(threshold=0.3)
    table, reference = StoryTable(params), StoryTable(params)  # saved (and reloaded) / never saved
    serial = 0
    probes = [random_features(rng) for _ in range(3)]
    for step in range(steps):
        for _ in range(rng.randint(5, 30) if step == 0 else rng.randint(0, 6)):  # a first ingest, then updates
            if reference.row and rng.random() < 0.3:  # assigned again (an edit), or removed
                article_id = rng.choice(sorted(reference.row))
                if rng.random() < 0.5:
                    table.remove(article_id)
                    reference.remove(article_id)
                    continue
            else:
                serial += 1
                article_id = f"a{serial}"
            found, digest = random_features(rng), f"h{serial}-{step}"
            assert table.assign(article_id, digest, found) == reference.assign(article_id, digest, found)
        table.save(folder, f"v{step}")
        meta = json.loads((folder / "meta.json").read_text())
        assert len(meta["segments"]) <= max_segments and meta["version"] == f"v{step}"
        again = StoryTable.load(folder, params)
        assert again.version == f"v{step}" and not again.dirty
        agrees(again, reference, probes)
        table = again if rng.random() < 0.5 else table  # assignments continue from disk or from memory
    agrees(table, reference, probes)
    named = {"meta.json", *(f"{s['name']}{x}" for s in meta["segments"] for x in (".npz", ".npy"))}
    assert {p.name for p in folder.iterdir()} == named  # merged segments are gone


@pytest.mark.unit
def test_an_ingest_adds_one_segment_and_the_table_is_the_one_rebuilt_from_chroma(tmp_path: Path):
    from ingest.index import ingest_paths
    from rag.store import get_store
    from rag.stories import load_story_table, params_of, sync, table_path

    folder, embedder, settings = ingested(tmp_path, two_strikes=True)
    meta = json.loads((table_path(settings) / "meta.json").read_text())
    first = meta["segments"]
    assert [s["rows"] for s in first] == [3]

    write(folder, "s3.txt", "Velmora strike talks", "2024-02-23", STRIKE.format(day="Friday", extra="Talks began."))
    write(folder, "o.txt", "Sarnia olive harvest falls", "2024-02-21", OLIVES + " Prices rose.")  # edited
    (folder / "s1.txt").unlink()
    ingest_paths([folder], settings, embedder=embedder, prune=True)
    meta = json.loads((table_path(settings) / "meta.json").read_text())
    assert meta["segments"][:1] == first and len(meta["segments"]) == 2  # the first segment was not rewritten
    assert (meta["segments"][1]["rows"], meta["segments"][1]["deleted"]) == (2, 2)  # s3 and o in; s1 and old o out

    store = get_store(settings, embedder.name)
    saved, rebuilt = load_story_table(settings), StoryTable(params_of(settings))
    sync(rebuilt, store)  # from the story ids and vectors the chunks carry
    assert saved.version == store.version() and len(saved) == 3
    agrees(saved, rebuilt, [])


@pytest.mark.unit
def test_a_table_in_the_single_file_layout_is_read_then_replaced_by_segments(tmp_path: Path):
    rng = random.Random(3)
    table = StoryTable(Params(threshold=0.3))
    for n in range(12):
        table.assign(f"a{n}", f"h{n}", random_features(rng))
    table.remove("a4")
    legacy = tmp_path / "stories" / "news.npz"
    write_legacy(table, legacy, "v7")
    folder = legacy.with_suffix("")
    old = StoryTable.load(folder, table.params)
    assert old.version == "v7" and old.dirty  # so that the next ingest writes it as segments, changed or not
    agrees(old, table, [random_features(rng)])
    old.assign("b", "hb", random_features(rng))
    table.assign("b", "hb", old.features("b"))
    old.save(folder, "v8")
    assert not legacy.exists() and (folder / "meta.json").exists()
    agrees(StoryTable.load(folder, table.params), table, [random_features(rng)])


@pytest.mark.unit
def test_a_reader_whose_segment_a_merge_removed_reads_the_newer_commit(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(stories, "MAX_SEGMENTS", 2)
    rng = random.Random(5)
    folder, params = tmp_path / "news", Params(threshold=0.3)
    writer = StoryTable(params)
    for step in range(2):
        writer.assign(f"a{step}", "h", random_features(rng))
        writer.save(folder, f"v{step}")
    read = stories._Segment.read
    merged = []

    def read_then_merge(folder_: Path, entry):  # the writer commits a merge after the reader read meta.json
        if not merged:
            writer.assign("late", "h", random_features(rng))
            writer.save(folder, "v2")
            merged.append(json.loads((folder / "meta.json").read_text())["segments"])
        return read(folder_, entry)

    monkeypatch.setattr(stories._Segment, "read", staticmethod(read_then_merge))
    again = StoryTable.load(folder, params)
    assert len(merged[0]) == 1  # the three rows merged into one segment, the two the reader saw removed
    assert again.version == "v2" and set(again.row) == {"a0", "a1", "late"}


@pytest.mark.unit
def test_a_reader_during_the_migration_from_the_single_file_reads_the_segments(tmp_path: Path, monkeypatch):
    rng = random.Random(8)
    folder = tmp_path / "stories" / "news"
    table = StoryTable(Params(threshold=0.3))
    for n in range(5):
        table.assign(f"a{n}", f"h{n}", random_features(rng))
    write_legacy(table, folder.with_name("news.npz"), "v1")
    load_legacy = StoryTable._load_legacy

    def migrated_first(folder_: Path, params: Params) -> StoryTable:  # an ingest migrates after the reader looked
        writer = load_legacy(folder_, params)
        writer.save(folder_, "v2")
        return load_legacy(folder_, params)

    monkeypatch.setattr(StoryTable, "_load_legacy", staticmethod(migrated_first))
    again = StoryTable.load(folder, table.params)
    assert not folder.with_name("news.npz").exists() and again.version == "v2"
    agrees(again, table, [random_features(rng)])


@pytest.mark.unit
def test_an_ingest_that_changes_nothing_still_replaces_the_single_file(tmp_path: Path):
    from ingest.index import ingest_paths
    from rag.stories import load_story_table, table_path

    folder, embedder, settings = ingested(tmp_path, two_strikes=False)
    saved = load_story_table(settings)
    legacy = table_path(settings).with_name("news.npz")
    write_legacy(saved, legacy, saved.version)
    for path in table_path(settings).iterdir():
        path.unlink()
    table_path(settings).rmdir()
    assert len(load_story_table(settings)) == 2  # read from the single file
    report = ingest_paths([folder], settings, embedder=embedder)  # a full run that finds nothing changed
    assert report.totals["unchanged"] == 2 and report.chunks_embedded == 0
    assert not legacy.exists() and (table_path(settings) / "meta.json").exists()
    agrees(load_story_table(settings), saved, [])


def write_legacy(table: StoryTable, path: Path, version: str) -> None:
    """``table`` in the single-file layout rag/stories.py wrote before segments (format 1)."""
    rows = [table.row[a] for a in table.row]
    meta = {"format": 1, "version": version, "ids": [table.ids[r] for r in rows],
            "story": [table.story[r] for r in rows], "hash": [table.hash[r] for r in rows],
            "title": [sorted(table.words(r)[0]) for r in rows], "names": [sorted(table.words(r)[1]) for r in rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        np.savez(out, meta=np.array(json.dumps(meta)), vectors=table._vectors(np.array(rows)), days=table.days[rows])


def ingested(tmp_path: Path, two_strikes: bool):
    """A folder of two or three articles (one or two about one strike), ingested: (folder, embedder, settings)."""
    from ingest.index import ingest_paths

    folder, embedder = tmp_path / "articles", FakeEmbedder()
    settings = make_settings(tmp_path, folder)
    write(folder, "s1.txt", "Velmora rail strike begins", "2024-02-20", STRIKE.format(day="Tuesday", extra=""))
    write(folder, "o.txt", "Sarnia olive harvest falls", "2024-02-21", OLIVES)
    if two_strikes:
        write(folder, "s2.txt", "Velmora rail strike day two", "2024-02-21", STRIKE.format(day="Wednesday", extra=""))
    ingest_paths([folder], settings, embedder=embedder)
    return folder, embedder, settings
