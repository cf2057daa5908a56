"""The lexical index in segments: an update indexes only what an ingest wrote, yet ranks exactly as an index
built afresh (bm25s over the live chunks is the reference), through deletions, merges, saves and reloads."""

from __future__ import annotations

import json
import random

import bm25s
import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ingest.index import ingest_paths
from rag import lexical
from rag.lexical import LexicalCache, LexicalIndex, build_lexical_cache, tokens
from rag.store import get_store

from .conftest import make_settings
from .test_crash import saved_lexical_agrees

WORDS = ["harbour", "ferry", "council", "strike", "tram", "budget", "minister", "election", "flood", "bridge",
         "festival", "vaccine", "court", "tariff", "drought", "museum", "airline", "pension", "rail", "wildfire",
         "merger", "stadium", "protest", "senate"]
QUERIES = ["ferry strike", "council budget minister", "flood bridge flood", "museum festival tram",
           "senate pension merger airline", "wildfire drought", "court tariff", "unknownword"]


class Chunks:
    """The store's seam as the lexical index uses it: every chunk, or the chunks of some ids."""

    def __init__(self, chunks: dict[str, tuple[str, dict]]) -> None:
        self.chunks = chunks

    def iter_chunks(self):
        return ({"id": cid, "document": text, "metadata": meta} for cid, (text, meta) in self.chunks.items())

    def get_chunks(self, ids):
        return [(cid, *self.chunks[cid]) for cid in ids if cid in self.chunks]


def chunk(rng: random.Random, n: int) -> tuple[str, dict]:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
    return text, {"title": rng.choice(WORDS).title(), "article_id": f"a{n % 17}", "outlet_key": f"o{n % 3}",
                  "published_key": 20240100 + n % 28 + 1}


def reference_scores(index: LexicalIndex, chunks: dict[str, tuple[str, dict]], query: str) -> np.ndarray:
    """bm25s's scores over the same live chunks, in the index's row order."""
    vocab: dict[str, int] = {}
    ids = list(chunks)
    corpus = [np.array([vocab.setdefault(w, len(vocab)) for w in tokens(f"{m['title']}\n{t}") or ["_"]],
                       dtype=np.int32) for t, m in chunks.values()]
    model = bm25s.BM25()
    model.index((corpus, vocab), show_progress=False)
    known = [w for w in tokens(query) if w in model.vocab_dict]
    scores = model.get_scores(known) if known else np.zeros(len(ids))
    out = np.zeros(len(ids), dtype=np.float32)
    out[[index.positions[cid] for cid in ids]] = scores
    return out


def agrees(index: LexicalIndex, chunks: dict[str, tuple[str, dict]]) -> None:
    assert sorted(index.chunk_ids) == sorted(chunks)
    for query in QUERIES:
        np.testing.assert_allclose(index.scores(query), reference_scores(index, chunks, query), rtol=1e-5, atol=1e-5)
    for word in ("ferry", "unknownword"):
        stem = tokens(word)[0] if tokens(word) else word
        assert index.frequency(stem) == sum(stem in tokens(f"{m['title']}\n{t}") for t, m in chunks.values())
    row = {cid: i for i, cid in enumerate(index.chunk_ids)}
    for cid, (_, meta) in chunks.items():
        assert index.date_keys[row[cid]] == int(meta.get("published_key", 0) or 0)
        assert index.outlets[row[cid]] == meta.get("outlet_key", "") and index.article_ids[row[cid]] == meta["article_id"]


@pytest.mark.unit
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), steps=st.integers(1, 8), max_segments=st.integers(2, 5),
       merge_block=st.integers(1, 300))
def test_updates_rank_as_an_index_built_afresh(tmp_path_factory, monkeypatch, seed, steps, max_segments, merge_block):
    monkeypatch.setattr(lexical, "MAX_SEGMENTS", max_segments)
    monkeypatch.setattr(lexical, "MERGE_BLOCK", merge_block)  # a merge places its postings in blocks this small
    rng = random.Random(seed)
    folder = tmp_path_factory.mktemp("lexical") / "index"
    live = {f"c{n}": chunk(rng, n) for n in range(rng.randint(1, 30))}
    index = LexicalIndex.build(Chunks(live), "v0")
    index.save(folder)
    serial = len(live)
    for step in range(1, steps + 1):
        written, deleted = set(), set()
        for cid in rng.sample(sorted(live), k=min(len(live), rng.randint(0, 5))):  # deleted, some written again
            deleted.add(cid)
            del live[cid]
            if rng.random() < 0.3:
                live[cid] = chunk(rng, serial)
                written.add(cid)
                deleted.discard(cid)
        for _ in range(rng.randint(0, 6)):
            serial += 1
            live[f"c{serial}"] = chunk(rng, serial)
            written.add(f"c{serial}")
        index = index.updated(Chunks(live), written, deleted, f"v{step}")
        assert len(index.segments) <= max_segments
        index.save(folder)
        if not live:
            assert len(index) == 0 and not index.scores("ferry").any()
            continue
        agrees(index, live)
        again, problem = LexicalIndex.read(folder)
        assert again is not None and not problem and again.version == f"v{step}"
        assert again.chunk_ids == index.chunk_ids
        agrees(again, live)
        index = again if rng.random() < 0.5 else index  # updates continue from memory or from disk
    meta = json.loads((folder / "meta.json").read_text())
    named = {"meta.json", meta["terms_file"], *(f"{s['name']}.npz" for s in meta["segments"])}
    assert {p.name for p in folder.iterdir()} == named  # replaced segments and old term files are gone


@pytest.mark.unit
def test_a_reader_reads_only_what_later_commits_added(tmp_path):
    rng = random.Random(3)
    live = {f"c{n}": chunk(rng, n) for n in range(40)}
    folder = tmp_path / "index"
    LexicalIndex.build(Chunks(live), "v0").save(folder)
    reader = LexicalIndex.load(folder)  # another process's copy
    writer = LexicalIndex.load(folder)
    live["c99"] = ("glowfish harbour " * 3, {"title": "Glowfish", "article_id": "a99", "outlet_key": "o1",
                                            "published_key": 20240301})
    del live["c3"]
    writer.updated(Chunks(live), {"c99"}, {"c3"}, "v1").save(folder)
    again, problem = LexicalIndex.read(folder, reader)
    assert again is not None and not problem and again.version == "v1"
    assert again.segments[0] is reader.segments[0] and len(again.segments) == 2  # the first segment not read again
    assert again.words[:len(reader.words)] == reader.words and "glowfish" in again.words
    agrees(again, live)
    (folder / json.loads((folder / "meta.json").read_text())["terms_file"]).write_bytes(b"cut")
    assert LexicalIndex.read(folder, reader)[0] is None  # the words it would read are damaged: said, not used


@pytest.mark.unit
def test_a_reader_whose_segment_another_process_merged_away_reads_the_newer_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(lexical, "MAX_SEGMENTS", 1)  # every update merges
    rng = random.Random(4)
    live = {f"c{n}": chunk(rng, n) for n in range(20)}
    folder = tmp_path / "index"
    LexicalIndex.build(Chunks(live), "v0").save(folder)
    read = lexical.Segment.read
    merged = []

    def merge_first(*args, **kwargs):  # another process commits a merge after this one read meta.json
        if not merged:
            merged.append(True)
            added = {f"c{n}": chunk(rng, n) for n in range(50, 65)}  # large enough that all segments merge
            live.update(added)
            writer = LexicalIndex.load(folder)
            writer.updated(Chunks(live), set(added), set(), "v1").save(folder)
        return read(*args, **kwargs)

    monkeypatch.setattr(lexical.Segment, "read", staticmethod(merge_first))
    again, problem = LexicalIndex.read(folder)
    assert again is not None and not problem and again.version == "v1"  # not damage: the newer commit
    agrees(again, live)


@pytest.mark.unit
def test_a_save_writes_again_what_another_process_removed_and_current_reads_unread_postings(tmp_path, monkeypatch):
    monkeypatch.setattr(lexical, "MAX_SEGMENTS", 1)
    rng = random.Random(6)
    live = {f"c{n}": chunk(rng, n) for n in range(20)}
    folder = tmp_path / "index"
    LexicalIndex.build(Chunks(live), "v0").save(folder)
    mine = LexicalIndex.load(folder)  # loaded whole, as a serving process has it
    added = {f"c{n}": chunk(rng, n) for n in range(60, 75)}
    other = dict(live, **added)
    LexicalIndex.load(folder).updated(Chunks(other), set(added), set(), "v1").save(folder)  # merges all: v0's file goes
    live["c61"] = chunk(rng, 61)
    mine.updated(Chunks(live), {"c61"}, set(), "v2").save(folder)  # names v0's segment: written again
    again, problem = LexicalIndex.read(folder)
    assert again is not None and not problem and again.version == "v2"
    agrees(again, live)

    lazy, _ = LexicalIndex.read(folder, postings=False)
    assert lazy is not None and not lazy.complete
    store = Chunks(live)
    store.version, store.count_chunks = (lambda: "v2"), (lambda: len(live))
    cache = LexicalCache(store, folder)
    cache._index = lazy  # as refresh leaves it
    assert cache.current().complete  # a lookup never runs on postings nobody checked


@pytest.mark.integration
def test_an_ingest_adds_a_segment_and_never_rebuilds(tmp_path, embedder, monkeypatch):
    folder = tmp_path / "articles"
    folder.mkdir()
    for n, topic in enumerate(["ferry timetable", "council budget", "tram line", "museum opening"]):
        (folder / f"story_{n}.txt").write_text(
            f"Quillport {topic}\n\nThe {topic} in Quillport was the talk of the week, officials said on "
            f"Monday, as residents asked what the {topic} would change. " * 3)
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    lexical_folder = settings.index_dir / "bm25" / settings.store.collection
    assert len(json.loads((lexical_folder / "meta.json").read_text())["segments"]) == 1

    def rebuilt(*args, **kwargs):
        raise AssertionError("the lexical index was rebuilt for an update")

    monkeypatch.setattr(LexicalIndex, "build", classmethod(rebuilt))
    read_postings = []  # the segment files whose postings were read
    original = lexical._read_postings
    monkeypatch.setattr(lexical, "_read_postings", lambda path, *a: read_postings.append(path.name) or original(path, *a))
    (folder / "story_1.txt").write_text("Quillport council budget\n\nThe council of Quillport cut its budget "
                                        "for the harbour by a third, the treasurer said on Tuesday. " * 3)
    (folder / "story_2.txt").unlink()
    (folder / "story_9.txt").write_text("Glowfish return to Quillport\n\nThe glowfish came back to the bay of "
                                        "Quillport this spring, fishermen said, after five quiet years. " * 3)
    report = ingest_paths([folder], settings, embedder=embedder, prune=True)
    assert report.totals["added"] == 1 and report.totals["updated"] == 1 and not report.failed
    meta = json.loads((lexical_folder / "meta.json").read_text())
    assert len(meta["segments"]) == 2 and meta["segments"][1]["deleted"] > 0
    assert read_postings == []  # adding a segment read none of the first one's postings
    store = get_store(settings, embedder.name)
    saved_lexical_agrees(settings, store)
    saved = LexicalIndex.load(lexical_folder)
    live = {c["id"]: (c["document"], c["metadata"]) for c in store.iter_chunks()}
    agrees(saved, live)
    assert saved.frequency(tokens("tram")[0]) == 0 and saved.frequency(tokens("glowfish")[0]) > 0
    assert f"{meta['segments'][0]['name']}.npz" in read_postings  # a reader reads them


def two_articles_ingested(tmp_path, embedder):
    """Two short Quillport articles in a folder, ingested: (folder, settings)."""
    folder = tmp_path / "articles"
    folder.mkdir()
    for n, topic in enumerate(["ferry timetable", "council budget"]):
        (folder / f"story_{n}.txt").write_text(f"Quillport {topic}\n\nThe {topic} in Quillport changed, officials "
                                               f"said on Monday. " * 3)
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    return folder, settings


@pytest.mark.integration
def test_postings_an_update_did_not_read_are_checked_before_a_query_uses_them(tmp_path, embedder, caplog):
    from tests.test_recovery import DAMAGE

    folder, settings = two_articles_ingested(tmp_path, embedder)
    lexical_folder = settings.index_dir / "bm25" / settings.store.collection
    DAMAGE["segment postings cut"](lexical_folder)
    (folder / "story_9.txt").write_text("Glowfish return to Quillport\n\nThe glowfish came back to the bay, "
                                        "fishermen said. " * 3)
    report = ingest_paths([folder], settings, embedder=embedder)
    assert report.totals["added"] == 1 and not report.failed
    store = get_store(settings, embedder.name)
    lazy, problem = LexicalIndex.read(lexical_folder, postings=False)  # as the ingest's update read it
    assert lazy is not None and not problem and not lazy.complete  # the damage is not seen yet
    cache = build_lexical_cache(settings, store)
    cache._index = lazy  # a process that ingested, then answers a question
    index = cache.get()  # the damage is found and the index rebuilt
    assert any("damaged" in r.getMessage() and "postings" in r.getMessage() for r in caplog.records), caplog.text
    assert len(index.segments) == 1 and len(index) == store.count_chunks()
    agrees(index, {c["id"]: (c["document"], c["metadata"]) for c in store.iter_chunks()})


@pytest.mark.integration
def test_a_reader_answers_from_the_committed_index_while_an_ingest_writes_then_catches_up(tmp_path, embedder,
                                                                                          monkeypatch):
    from ingest.index import indexing
    from rag import marker
    from rag.schema import Article

    folder, settings = two_articles_ingested(tmp_path, embedder)
    store = get_store(settings, embedder.name)
    reader = build_lexical_cache(settings, store, reader=True)
    committed = reader.get()
    build = LexicalIndex.build

    def rebuilt(*args, **kwargs):
        raise AssertionError("a reader rebuilt the lexical index while an ingest was writing")

    with indexing(settings, embedder, store) as indexer:  # an ingest under way: its marker and lock are held
        store.touch()  # its first write moves the store's version
        monkeypatch.setattr(LexicalIndex, "build", classmethod(rebuilt))
        assert marker.running(settings.index_dir) and store.version() != committed.version
        during = reader.get()
        assert during.version == committed.version and during.chunk_ids == committed.chunk_ids
        writer = build_lexical_cache(settings, store)  # a writer never answers from an old index
        with pytest.raises(AssertionError, match="rebuilt"):
            writer.get()
        monkeypatch.setattr(LexicalIndex, "build", build)
        indexer.process([Article(key="file:glowfish", title="Glowfish return to Quillport", source="glowfish.txt",
                                 text="The glowfish came back to the bay of Quillport, fishermen said. " * 3)])
    monkeypatch.setattr(LexicalIndex, "build", classmethod(rebuilt))
    caught = reader.get()  # the run's change log leads from the committed version: one segment, no rebuild
    assert caught.version == store.version() and len(caught) == store.count_chunks()
    assert len(caught.segments) == len(committed.segments) + 1 and caught.frequency(tokens("glowfish")[0]) > 0


@pytest.mark.integration
def test_a_narrow_filter_searches_among_exactly_the_chunks_it_admits(tmp_path, embedder):
    """A filter admitting under a tenth of the chunks: the dense candidates are the admitted chunks nearest the
    question, in order, as a brute-force search over them finds them."""
    from datetime import date

    from ingest.index import ingest_articles
    from rag.filters import FilterRule
    from rag.retrieve import BROAD_FILTER, Retriever
    from rag.schema import Article, Filters

    rng = random.Random(5)
    articles = [Article(key=f"file:a{n}", title=f"{rng.choice(WORDS).title()} report {n}",
                        text=" ".join(rng.choice(WORDS) for _ in range(60)) + f". Report number {n}.",
                        source=f"a{n}.txt", published=date(2024, 1 + n % 12, 10), outlet=f"Outlet {n % 12}")
               for n in range(36)]
    settings = make_settings(tmp_path)
    ingest_articles(articles, settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    retriever = Retriever(settings, store, embedder)
    index = retriever.lexical.get()
    vectors = {cid: np.asarray(vec) for got in store.pages(500, ("embeddings",))
               for cid, vec in zip(got["ids"], got["embeddings"])}
    query = np.asarray(embedder.embed_query("harbour ferry strike"), dtype=np.float32)
    for filters in (Filters(outlets=("Outlet 3",)), Filters(since=date(2024, 5, 1), until=date(2024, 5, 31))):
        mask = index.mask(FilterRule.of(filters))
        assert 0 < mask.mean() < BROAD_FILTER
        admitted = [index.chunk_ids[i] for i in np.flatnonzero(mask)]
        expected = sorted(admitted, key=lambda cid: -float(vectors[cid] @ query))
        got = retriever._dense(query, mask, 50, index)
        assert [cid for cid, _ in got] == expected
        assert [sim for _, sim in got] == pytest.approx([float(vectors[c] @ query) for c in expected], abs=1e-4)


@pytest.mark.integration
def test_another_process_s_copy_catches_up_through_the_change_log(tmp_path, embedder, monkeypatch):
    """A lexical index kept in another folder (another serve process's own copy, as with a Chroma server) is
    brought up to date after ingests by indexing only the chunks they logged; with a run missing from the log
    it is rebuilt."""
    from rag import store as store_module
    from rag.lexical import LexicalCache

    folder = tmp_path / "articles"
    folder.mkdir()
    for n in range(3):
        (folder / f"s{n}.txt").write_text(f"Harbour story {n}\n\n" + " ".join(WORDS[n:n + 12]) * 3)
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    other = LexicalCache(store, tmp_path / "other-copy")
    assert len(other.get().segments) == 1
    for n in (3, 4):  # two runs, both logged
        (folder / f"s{n}.txt").write_text(f"Glowfish story {n}\n\n" + " ".join(WORDS[n:n + 12]) * 3)
        ingest_paths([folder], settings, embedder=embedder)
    (folder / "s0.txt").unlink()
    ingest_paths([folder], settings, embedder=embedder, prune=True)

    def rebuilt(*args, **kwargs):
        raise AssertionError("rebuilt instead of catching up")

    with monkeypatch.context() as patch:
        patch.setattr(LexicalIndex, "build", classmethod(rebuilt))
        caught = other.get()
    assert caught.version == store.version() and len(caught.segments) == 2
    agrees(caught, {c["id"]: (c["document"], c["metadata"]) for c in store.iter_chunks()})
    assert LexicalIndex.load(tmp_path / "other-copy").version == store.version()  # saved
    monkeypatch.setattr(store_module, "CHANGE_LOG_MAX_IDS", 0)  # the next run is not logged
    (folder / "s5.txt").write_text("Tram story\n\n" + " ".join(WORDS[5:17]) * 3)
    ingest_paths([folder], settings, embedder=embedder)
    again = other.get()
    assert again.version == store.version() and len(again.segments) == 1  # rebuilt
    agrees(again, {c["id"]: (c["document"], c["metadata"]) for c in store.iter_chunks()})


@pytest.mark.integration
def test_the_change_log_leads_through_finished_runs_to_one_writing_and_stops_at_a_killed_one(tmp_path, embedder,
                                                                                            monkeypatch):
    """Each run logs an open entry at its first write and its changes at its end. A reader a finished run behind
    catches up with it while the next run writes, and answers from there; the writing run says now and then that
    it still is. A run killed after its first write breaks the chain, and a reader rebuilds."""
    from ingest import index as index_module
    from ingest.index import indexing
    from rag.schema import Article

    _, settings = two_articles_ingested(tmp_path, embedder)
    store = get_store(settings, embedder.name)
    other = LexicalCache(store, tmp_path / "other-copy", reader=True)
    start = other.get()
    builds = []
    build = LexicalIndex.build

    def counted(cls, *args, **kwargs):
        builds.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(LexicalIndex, "build", classmethod(counted))

    def article(word: str) -> Article:
        return Article(key=f"file:{word}", title=f"The {word} of Quillport", source=f"{word}.txt",
                       text=f"The {word} came back to the bay of Quillport, fishermen said on Friday. " * 3)

    with indexing(settings, embedder, store) as indexer:
        indexer.process([article("glowfish")])
    finished = store.version()
    path = store.log_between(start.version, finished)
    assert path is not None and not path.writing and path.reached == finished and path.changes.written
    log_ = store._change_log(create=False)
    with indexing(settings, embedder, store) as indexer:
        indexer.process([article("sandpiper")])
        writing = store.version()
        path = store.log_between(start.version, writing)
        assert path is not None and path.writing and path.reached == finished
        during = other.get()  # one run behind: caught up with it, and answering from there until this one ends
        assert during.version == finished and not builds
        assert during.frequency(tokens("glowfish")[0]) > 0 and "sandpiper" not in during.vocab
        said = log_.get(ids=[writing], include=["metadatas"])["metadatas"][0]["alive"]
        monkeypatch.setattr(index_module, "STILL_WRITING_EVERY", 0.0)
        indexer.changing()  # a later write: the run says it is still writing
        assert log_.get(ids=[writing], include=["metadatas"])["metadatas"][0]["alive"] > said
    after = other.get()
    assert after.version == store.version() and not builds and after.frequency(tokens("sandpiper")[0]) > 0

    killed = store.track_changes()  # a run killed after its first write: opened, never closed, its lock free
    store.touch(killed, opening=True)
    assert other.get().version == store.version() and len(builds) == 1  # embedded: the free lock says killed
    (tmp_path / "articles" / "heron.txt").write_text("The heron of Quillport\n\nThe heron came back, they said. " * 3)
    ingest_paths([tmp_path / "articles"], settings, embedder=embedder)  # a run from the killed one's version
    assert store.log_between(after.version, store.version()) is None  # the killed run's writes are not logged
    assert store.log_between(killed.opened, store.version()) is not None
    built = len(builds)
    caught = other.get()  # from the copy rebuilt at the killed run's version, the heron run is one segment
    assert caught.version == store.version() and len(builds) == built and len(caught.segments) == 2
    agrees(caught, {c["id"]: (c["document"], c["metadata"]) for c in store.iter_chunks()})
