"""Incremental ingest with the real model and a real Chroma directory under tmp_path."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ingest.index import ingest_paths
from rag.retrieve import Retriever
from rag.store import get_store

from .conftest import BAD, make_settings

pytestmark = pytest.mark.integration

SEEDS = Path(__file__).resolve().parent.parent / "data" / "articles"
EXPECTED_ARTICLES = 6  # glowfish .txt, rail .md, bridge .html, observatory .json, two rows of wire .jsonl


def outcomes(report):
    return {item.source: item.outcome for item in report.items}


def check_consistent(store):
    """Every done article has exactly its recorded chunks; no chunk belongs to anything else."""
    records = store.records()
    done = {r.id: r for r in records.values() if r.status == "done"}
    assert not [r for r in records.values() if r.status == "pending"]
    by_article: dict[str, int] = {}
    for chunk in store.iter_chunks(include=["metadatas"]):
        meta = chunk["metadata"]
        assert meta["article_id"] in done, f"orphan chunk {chunk['id']}"
        assert meta["article_hash"] == done[meta["article_id"]].hash
        by_article[meta["article_id"]] = by_article.get(meta["article_id"], 0) + 1
    assert by_article == {rid: r.chunks for rid, r in done.items()}
    return done


def test_every_format_is_indexed_and_a_second_run_embeds_nothing(settings, embedder):
    first = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    assert first.totals["added"] == EXPECTED_ARTICLES and not first.failed
    assert {Path(i.source.split(" (")[0]).suffix for i in first.items} == {".txt", ".md", ".html", ".json", ".jsonl"}
    store = get_store(settings, embedder.name)
    done = check_consistent(store)
    assert len(done) == EXPECTED_ARTICLES

    stats = store.stats()
    assert stats.articles == EXPECTED_ARTICLES and stats.chunks == first.chunks_embedded
    assert str(stats.first_date) == "2023-10-11" and str(stats.last_date) == "2024-04-05"
    assert dict(stats.outlets)["Wire Example"] == 2

    version = store.version()
    second = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    assert second.totals["unchanged"] == EXPECTED_ARTICLES
    assert second.chunks_embedded == 0
    assert store.version() == version  # nothing written, so the BM25 index stays valid


def test_chunks_fit_the_model_and_point_into_the_text(settings, embedder):
    from ingest.load import load_file

    for seed in SEEDS.glob("*.txt"):  # the bundled articles: 3 and 9 chunks
        shutil.copy(seed, settings.articles_dir / seed.name)
    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    texts = {a.id: a for f in settings.articles_dir.iterdir() for a in load_file(f, root=settings.articles_dir).articles}
    seen = 0
    for chunk in store.iter_chunks():
        meta = chunk["metadata"]
        article = texts[meta["article_id"]]
        assert article.text[meta["start"]:meta["end"]] == chunk["document"]
        embedded = f"{article.title}\n{chunk['document']}"
        assert embedder.count_tokens(embedded) + 2 <= embedder.max_tokens
        seen += 1
    assert seen >= EXPECTED_ARTICLES + 2 + 10  # the seed articles span several chunks each


def test_long_article_is_split_with_overlap_and_nothing_truncated(tmp_path, embedder):
    folder = tmp_path / "articles"
    folder.mkdir()
    sentences = [f"Sentence number {i} tells how the council of Brindle debated item {i} at length." for i in range(200)]
    (folder / "long.txt").write_text("A very long council report\n\n" + " ".join(sentences))
    settings = make_settings(tmp_path, folder, chunk={"overlap_tokens": 32})  # these sentences are ~20 tokens each
    report = ingest_paths([folder], settings, embedder=embedder)
    assert report.items[0].chunks > 10
    docs = sorted(get_store(settings, embedder.name).iter_chunks(), key=lambda c: c["metadata"]["position"])
    joined = " ".join(d["document"] for d in docs)
    for sentence in sentences:
        assert sentence in joined
    # neighbouring chunks share whole sentences
    assert docs[1]["metadata"]["start"] < docs[0]["metadata"]["end"]


def test_changed_article_replaces_all_its_chunks(settings, embedder):
    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    path = settings.articles_dir / "glowfish_festival.txt"
    before = {r.source: r for r in store.records().values()}["glowfish_festival.txt"]
    path.write_text(path.read_text().replace("40,000 visitors", "55,000 visitors"))
    report = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    assert outcomes(report)["glowfish_festival.txt"] == "updated"
    assert report.totals["unchanged"] == EXPECTED_ARTICLES - 1
    done = check_consistent(store)
    assert done[before.id].hash != before.hash
    docs = [c["document"] for c in store.iter_chunks() if c["metadata"]["article_id"] == before.id]
    assert any("55,000 visitors" in d for d in docs) and not any("40,000 visitors" in d for d in docs)


def test_prune_removes_articles_whose_files_are_gone(settings, embedder):
    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    (settings.articles_dir / "rail_strike.md").unlink()
    kept = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    assert kept.totals["removed"] == 0 and store.stats().articles == EXPECTED_ARTICLES  # without --prune
    pruned = ingest_paths([settings.articles_dir], settings, embedder=embedder, prune=True)
    assert outcomes(pruned)["rail_strike.md"] == "removed"
    done = check_consistent(store)
    assert len(done) == EXPECTED_ARTICLES - 1
    assert not any("Velmora" in (c["document"] or "") for c in store.iter_chunks())


def test_identical_text_under_another_name_is_stored_once(settings, embedder):
    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    chunks = store.count_chunks()
    shutil.copy(settings.articles_dir / "glowfish_festival.txt", settings.articles_dir / "copy_of_glowfish.txt")
    report = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    item = next(i for i in report.items if i.source == "copy_of_glowfish.txt")
    assert item.outcome == "duplicate" and "glowfish_festival.txt" in item.reason
    assert store.count_chunks() == chunks and store.stats().aliases == 1
    # unchanged on the next run, and promoted to a real article once its original is pruned
    again = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    assert outcomes(again)["copy_of_glowfish.txt"] == "duplicate" and again.chunks_embedded == 0
    (settings.articles_dir / "glowfish_festival.txt").unlink()
    pruned = ingest_paths([settings.articles_dir], settings, embedder=embedder, prune=True)
    assert outcomes(pruned)["glowfish_festival.txt"] == "removed"
    assert outcomes(pruned)["copy_of_glowfish.txt"] == "added"
    done = check_consistent(store)
    assert len(done) == EXPECTED_ARTICLES and store.stats().aliases == 0


def test_bad_files_fail_with_reasons_and_good_ones_are_indexed(tmp_path, settings, embedder, capsys):
    for bad in BAD.iterdir():
        shutil.copy(bad, settings.articles_dir / bad.name)
    with (settings.articles_dir / "huge.txt").open("wb") as handle:
        handle.truncate(50_000_000)
    (settings.articles_dir / "rows.jsonl").write_text('{"title": "Fine", "text": "A fine short article."}\nnot json\n')
    report = ingest_paths([settings.articles_dir], settings, embedder=embedder)
    reasons = {i.source: i.reason for i in report.items if i.outcome == "failed"}
    assert reasons == {
        "empty.txt": "empty file",
        "binary.txt": "binary file, not text",
        "invalid_utf8.txt": "not valid UTF-8 text (byte 0xff at offset 39); save it as UTF-8",
        "malformed.json": reasons["malformed.json"],
        "no_article.html": "no article text found in the HTML page (only navigation, forms or scripts)",
        "huge.txt": "file is 50.0 MB, over the 20 MB limit ([ingest] max_file_mb)",
        "rows.jsonl (line 2)": reasons["rows.jsonl (line 2)"],
    }
    assert reasons["malformed.json"].startswith("malformed JSON")
    assert reasons["rows.jsonl (line 2)"].startswith("malformed JSON")
    assert report.totals["added"] == EXPECTED_ARTICLES + 1
    check_consistent(get_store(settings, embedder.name))


def test_cli_ingest_reports_and_exits_nonzero_on_failure(tmp_path, settings, embedder, capsys, monkeypatch):
    from rag import cli

    shutil.copy(BAD / "empty.txt", settings.articles_dir / "empty.txt")
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{settings.articles_dir}"\nindex_dir = "{tmp_path / "index"}"\n')
    assert cli.main(["--config", str(config), "ingest"]) == 1
    out, err = capsys.readouterr()
    assert "\r" not in err and re.search(r"^ingest: (\d+)/\1 files \(100%\)", err, re.MULTILINE)  # no bar off a TTY
    assert "failed  empty.txt  -- empty file" in out
    assert "added  observatory.json" in out and f"{EXPECTED_ARTICLES} added, 1 failed" in out
    (settings.articles_dir / "empty.txt").unlink()
    assert cli.main(["--config", str(config), "ingest"]) == 0
    assert f"{EXPECTED_ARTICLES} unchanged" in capsys.readouterr().out
    assert cli.main(["--config", str(config), "stats"]) == 0
    stats = capsys.readouterr().out
    assert f"articles:        {EXPECTED_ARTICLES}" in stats and "2023-10-11 to 2024-04-05" in stats
    assert "all-MiniLM-L6-v2" in stats


def test_cli_ingest_of_a_feed_with_repeats_a_cut_emoji_and_a_note_succeeds(tmp_path, embedder, capsys):
    """Issue 15 items 1, 17 and 18 end to end: nothing here is a failure, and the report says what was decided."""
    import json

    from rag import cli

    folder = tmp_path / "articles"
    folder.mkdir()
    body = "The harbour of Orvik reopened on Monday after eight months of repairs, officials said."
    rows = [{"title": "Harbour reopens", "text": body, "url": "https://x.example/1"},
            {"title": "Cut emoji", "text": "The export cut an emoji in half \ud83d, the editor said.", "url": "https://x.example/2"},
            {"title": "Harbour reopens", "text": body, "url": "https://x.example/1"},
            {"title": "Harbour reopens", "text": body + " Ferries resume on Friday.", "url": "https://x.example/1"}]
    (folder / "feed.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")  # the emoji half as \\ud83d
    (folder / "note.txt").write_text("date 2023-09-20 The council approved the Orvik harbour budget on Wednesday.")
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{folder}"\nindex_dir = "{tmp_path / "index"}"\n')
    assert cli.main(["--config", str(config), "ingest"]) == 0
    out = capsys.readouterr().out
    assert "U+FFFD" in out and "same URL and content as line 1" in out
    assert "replaces line 1 (same URL, changed content)" in out and "the later record wins" in out
    assert "added  note.txt" in out and "3 added, 2 duplicate in" in out
    store = get_store(make_settings(tmp_path, folder), embedder.name)
    texts = {r.title: r for r in store.records().values()}
    assert set(texts) == {"Harbour reopens", "Cut emoji", "The council approved the Orvik harbour budget on Wednesday."}


def test_missing_path_is_reported(settings, embedder):
    report = ingest_paths([settings.articles_dir / "nope"], settings, embedder=embedder)
    assert report.failed and report.items[0].reason == "no such file or folder"


def test_chunk_text_is_metadata_and_indexes_with_it_as_the_document_still_read(settings, embedder):
    """Chunk text lives in metadata (Chroma's trigram index of documents is never used); an index written
    by an earlier version, with the text as the Chroma document, still answers with that text."""
    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    store = get_store(settings, embedder.name)
    got = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    assert not any(got["documents"]) and all(m["text"] for m in got["metadatas"])
    # Rewrite every chunk the old way: text as the document, no "text" in the metadata.
    olds = [{k: v for k, v in m.items() if k != "text"} for m in got["metadatas"]]
    texts = [m["text"] for m in got["metadatas"]]
    store.chunks.delete(ids=got["ids"])
    store.chunks.add(ids=got["ids"], embeddings=got["embeddings"], documents=texts, metadatas=olds)
    store.touch()
    assert {c["id"]: c["document"] for c in store.iter_chunks()} == dict(zip(got["ids"], texts))
    hits = Retriever(settings, store, embedder).search("glowfish festival visitors").hits
    assert hits and all(h.passage.text and h.passage.text in texts for h in hits)


def test_the_vector_index_loads_in_the_background_while_a_batch_is_embedded(settings, embedder, monkeypatch,
                                                                             caplog):
    """A process's first write loads Chroma's whole vector index (seconds at 1M chunks): a run starts that load
    before it chunks and embeds a batch, and waits for it before writing."""
    import logging

    from rag.store import Store

    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    store = Store(settings, embedder.name)  # a new process's store: nothing of the index loaded yet
    seen = []
    embed = embedder.embed_documents

    def embedding(texts):
        seen.append(store._warming is not None)
        return embed(texts)

    monkeypatch.setattr(embedder, "embed_documents", embedding)
    path = settings.articles_dir / "glowfish_festival.txt"
    path.write_text(path.read_text().replace("40,000 visitors", "55,000 visitors"))
    with caplog.at_level(logging.DEBUG, logger="rag.store"):
        report = ingest_paths([settings.articles_dir], settings, embedder=embedder, store=store)
    assert outcomes(report)["glowfish_festival.txt"] == "updated" and seen and all(seen)
    assert store._warming is not None and not store._warming.is_alive()
    assert "ahead of its first use failed" not in caplog.text
    check_consistent(store)
    empty = Store(settings.replace(store={"collection": "empty"}), embedder.name)
    empty.warm()  # nothing written yet: no vector index to load
    assert empty._warming is None


def test_a_question_in_a_new_process_loads_the_vector_index_while_the_lexical_index_loads(settings, embedder,
                                                                                          monkeypatch):
    """A new process's first unfiltered search reads the store's version, then starts Chroma's vector-index load
    before it loads the lexical index and embeds the question, and queries the vector index only once that load
    has finished. A filtered search (which may rank among a few ids without the vector index) starts none."""
    import threading
    import time

    from rag.schema import Filters
    from rag.store import Store

    ingest_paths([settings.articles_dir], settings, embedder=embedder)
    filtered = Store(settings, embedder.name)
    Retriever(settings, filtered, embedder).search("glowfish festival", Filters(outlets=("Nowhere Times",)))
    assert filtered._warming is None

    store = Store(settings, embedder.name)  # a new process's store: nothing of the index loaded yet
    retriever = Retriever(settings, store, embedder)
    seen: list[tuple[str, bool]] = []
    version, get, query = store.version, retriever.lexical.get, type(store.chunks).query

    def reading():  # Chroma answers no other call while it loads: the version is read before the load starts
        seen.append(("version", store._warming is None))
        return version()

    def getting(*args, **kwargs):
        seen.append(("lexical", store._warming is not None))
        return get(*args, **kwargs)

    def querying(self, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            seen.append(("query", store._warming is not None and not store._warming.is_alive()))
        else:
            time.sleep(0.5)  # the load of a large index: the search must wait for it
        return query(self, *args, **kwargs)

    monkeypatch.setattr(store, "version", reading)
    monkeypatch.setattr(retriever.lexical, "get", getting)
    monkeypatch.setattr(type(store.chunks), "query", querying)
    hits = retriever.search("How many visitors came to the glowfish festival?").hits
    assert hits and "glowfish" in hits[0].passage.text.lower()
    assert seen[:2] == [("version", True), ("lexical", True)] and ("query", True) in seen
    assert all(ok for _, ok in seen)
