"""Cited answers end to end: the real model, a real Chroma index of tests/data, every answerer."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ingest.index import ingest_paths
from rag.schema import Filters
from rag.service import Done, Error, Sources, Token, Verdicts, answer, ask, get_engine

from .conftest import ARTICLES, make_settings

pytestmark = pytest.mark.integration

PLANTED = "Which town will host the first Glowfish Festival?"
OFF_TOPIC = "What is the best recipe for sourdough bread?"


def events(question, settings, **kwargs):
    return list(ask(question, None, kwargs.pop("filters", None), settings, **kwargs))


def test_planted_fact_is_retrieved_answered_and_cited(indexed):
    stream = events(PLANTED, indexed)
    kinds = [type(e) for e in stream]
    assert kinds[0] is Sources and kinds[-1] is Done and Verdicts in kinds and Token in kinds
    result = stream[-1].answer
    assert not result.refused and "Quillhaven" in result.text
    assert result.citations and result.citations[0].title.startswith("Quillhaven to host the first Glowfish")
    first = result.sentences[0]
    assert first.verdict == "supported" and first.citations == (1,)
    # the citation's span points at the supporting sentence inside the article's cleaned text
    from ingest.load import load_file

    article = load_file(ARTICLES / "glowfish_festival.txt", root=ARTICLES).articles[0]
    support = first.support[0]
    assert article.text[support.start:support.end] == support.sentence
    assert "Quillhaven" in support.sentence
    citation = result.citations[0]
    assert article.text[citation.passage_start:citation.passage_end] == citation.passage
    assert citation.outlet == "Zorbian Coastal Gazette Ltd." and citation.published == date(2024, 3, 12)


def test_off_topic_question_is_refused_without_citations(indexed):
    result = answer(OFF_TOPIC, settings=indexed)
    assert result.refused and result.text == "The indexed articles don't cover this."
    assert result.citations == () and result.sentences == ()


def test_date_range_read_from_the_question(indexed):
    engine = get_engine(indexed)
    retrieval = engine.retriever.search("What did the central bank decide in October 2023?")
    assert retrieval.dates.text == "in October 2023" and retrieval.dates.since == date(2023, 10, 1)
    assert not retrieval.filters  # a ranking signal, not a filter
    assert retrieval.hits[0].passage.published.year == 2023
    result = answer("What did the central bank decide in October 2023?", settings=indexed)
    assert "4.5 percent" in result.text


def test_explicit_filters_are_exact(indexed):
    engine = get_engine(indexed)
    since = engine.retriever.search("olive harvest drought", Filters(since=date(2024, 1, 1)))
    assert since.hits and all(h.passage.published >= date(2024, 1, 1) for h in since.hits)
    outlet = engine.retriever.search("olive harvest drought", Filters(outlets=("wire example",)))
    assert {h.passage.outlet for h in outlet.hits} == {"Wire Example"}
    nothing = answer("Sarnia olive harvest", filters=Filters(outlets=("No Such Outlet",)), settings=indexed)
    assert nothing.refused


def test_relative_dates_use_today(indexed):
    engine = get_engine(indexed)
    last_week = engine.retriever.search("news from last week", today=date(2024, 4, 10))
    assert last_week.dates.since == date(2024, 4, 1) and last_week.today == date(2024, 4, 10)
    default = engine.retriever.search("what happened yesterday")
    assert default.dates.since == date(2024, 4, 4)  # the newest article is from 2024-04-05


def test_langchain_retriever_wrapper(indexed):
    from rag.retrieve import as_langchain_retriever

    docs = as_langchain_retriever(get_engine(indexed).retriever, top_k=2).invoke(PLANTED)
    assert len(docs) <= 2 and "Glowfish" in docs[0].page_content
    assert docs[0].metadata["title"].startswith("Quillhaven")


def test_bm25_index_is_saved_and_not_rebuilt_per_query(indexed, monkeypatch):
    from rag.lexical import LexicalIndex

    engine = get_engine(indexed)
    saved = LexicalIndex.load(indexed.index_dir / "bm25" / indexed.store.collection)
    assert saved is not None and saved.version == engine.store.version() and len(saved) > 0

    def boom(*args, **kwargs):
        raise AssertionError("BM25 rebuilt during a query")

    monkeypatch.setattr(LexicalIndex, "build", classmethod(boom))
    engine.retriever.lexical._index = None  # force a reload from disk
    assert engine.retriever.search(PLANTED).hits


def test_syndicated_copies_collapse_into_one_passage(tmp_path, embedder):
    folder = tmp_path / "articles"
    folder.mkdir()
    story = ("The city of Drumlin opened its new tram line on Saturday, linking the port with the university. "
             "The mayor said 30,000 people a day would ride the tram, which cost 200 million crowns.")
    (folder / "a.json").write_text(json.dumps({"title": "Drumlin opens tram line", "text": story,
                                               "url": "https://a.example/tram", "source": "Alpha News"}))
    (folder / "b.json").write_text(json.dumps({"title": "Tram line opens in Drumlin", "text": story + " Reporting by B.",
                                               "url": "https://b.example/tram", "source": "Beta Post"}))
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    retrieval = get_engine(settings).retriever.search("When did the Drumlin tram line open?")
    assert len(retrieval.hits) == 1
    assert retrieval.hits[0].also_reported in (("Beta Post",), ("Alpha News",))


def test_followup_uses_the_conversation(indexed):
    history = [{"role": "user", "content": "What happened to the harbour bridge in Port Tessaly?"},
               {"role": "assistant", "content": "It reopened after eight months of repairs [1]."}]
    result = answer("How much did the repairs cost?", history, settings=indexed)
    assert "Port Tessaly" in result.query or "harbour bridge" in result.query
    assert "14 million" in result.text


def test_empty_index_is_a_clear_error(tmp_path, embedder):
    settings = make_settings(tmp_path)
    stream = events("anything at all?", settings)
    assert len(stream) == 1 and isinstance(stream[0], Error)
    assert "No articles indexed yet" in stream[0].message and "newsrag ingest" in stream[0].message


def test_cli_ask_prints_answer_and_sources(indexed, capsys, tmp_path):
    from rag import cli

    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\narticles_dir = "{ARTICLES}"\nindex_dir = "{indexed.index_dir}"\n')
    assert cli.main(["--config", str(config), "ask", PLANTED]) == 0
    out = capsys.readouterr().out
    assert "Quillhaven" in out and "Sources:" in out
    assert "[1] Quillhaven to host the first Glowfish Festival" in out and "Zorbian Coastal Gazette Ltd., 2024-03-12" in out
    newest = max(line.split(", ")[-1].rstrip(")") for line in out.splitlines() if line.startswith("[") and ", 20" in line)
    assert f"As of {newest} (the newest source cited)." in out
    assert cli.main(["--config", str(config), "ask", PLANTED, "--json", "--top-k", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["citations"][0]["published"] == "2024-03-12" and data["sentences"][0]["verdict"] == "supported"
    assert data["as_of"] == max(c["published"] for c in data["citations"] if c["published"])
    stories = {m["story"] for _, _, m in get_engine(indexed).store.get_chunks([c["chunk_id"] for c in data["citations"]])}
    assert {c["story"] for c in data["citations"]} == stories and "" not in stories  # each source's story, from the index
    assert cli.main(["--config", str(config), "ask", "bridge", "--since", "yesterday"]) == 2
    assert "--since expects a date" in capsys.readouterr().err


def test_cli_ask_on_an_empty_index_exits_nonzero(tmp_path, capsys, embedder):
    from rag import cli

    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\nindex_dir = "{tmp_path / "empty"}"\n')
    assert cli.main(["--config", str(config), "ask", "anything?"]) == 1
    assert "No articles indexed yet" in capsys.readouterr().err


def test_eval_reports_every_metric(indexed, tmp_path):
    from rag.evaluate import evaluate, load_questions

    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "1", "question": PLANTED, "answer": "Quillhaven", "choices": ["Quillhaven", "Drumlin"],
         "gold_urls": [], "date": "2024-04-05"},
        {"id": "2", "question": "How much did the Port Tessaly bridge repairs cost?", "answer": "14 million tessals",
         "gold_urls": ["https://tessaly-times.example/2024/01/15/harbour-bridge-reopens"]},
        {"id": "3", "question": OFF_TOPIC, "answer": "flour", "gold_urls": []},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "results.jsonl"
    report = evaluate(load_questions(questions), get_engine(indexed), results_path=out)
    assert report.questions == 3 and report.hit1 == pytest.approx(1 / 3)
    assert report.refusal_rate == pytest.approx(1 / 3)
    assert report.accuracy == pytest.approx(2 / 3)
    assert 0 < report.citation_precision <= 1 and report.answer_p95_ms >= report.answer_p50_ms > 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["1", "2", "3"] and lines[1]["rank"] == 1


def test_a_year_no_article_can_speak_of_is_refused_with_the_reason(indexed):
    """As of August 2025, 2025 is a year that has begun; the only Glowfish article is from 2024."""
    result = answer("Which town hosted the Glowfish Festival in 2025?", settings=indexed, today=date(2025, 8, 1))
    assert result.refused and result.refusal.kind == "other_year" and "2025" in result.refusal.reason
    assert result.citations == ()
    # as of March 2024 the year has begun and the article is from it
    later = answer("Which town will host the Glowfish Festival in 2024?", settings=indexed, today=date(2024, 3, 20))
    assert not later.refused and "Quillhaven" in later.text


def test_eval_with_a_corpus_indexes_it_into_a_throwaway_index(tmp_path, capsys, monkeypatch, embedder):
    """``eval --corpus``: the corpus is indexed into a temporary folder, evaluated, and the folder removed."""
    import tempfile

    from rag import cli

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text((ARTICLES / "wire.jsonl").read_text())
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": "At what level did the Sarnia central bank hold its rate?",
                                     "answer": "4.5 percent", "gold_urls": ["https://wire.example/sarnia-rates"]}) + "\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\nindex_dir = "{tmp_path / "unused"}"\n')
    assert cli.main(["--config", str(config), "eval", str(questions), "--corpus", str(corpus), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 1 and report["hit1"] == 1.0 and report["accuracy"] == 1.0
    assert list(scratch.iterdir()) == [] and not (tmp_path / "unused").exists()  # nothing left, nothing else touched
