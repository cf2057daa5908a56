"""Fusion, the recency prior and dates read from questions, with a fake embedder and a real Chroma in tmp_path."""

from __future__ import annotations

from datetime import date

import pytest

from rag.config import RetrieveSettings
from rag.retrieve import DatePrior
from rag.schema import Article, DateRange, Filters
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.unit

TODAY = date(2023, 9, 22)


NO_DATES = DateRange()


def prior(window: DateRange = NO_DATES, as_of: bool = False) -> DatePrior:
    return DatePrior(TODAY, window, as_of, RetrieveSettings())


def test_inside_the_question_range_ranks_up_and_distance_ranks_down():
    window = DateRange(date(2023, 9, 1), date(2023, 9, 30), "in September")
    p = prior(window)
    inside, near, far = p.factor(date(2023, 9, 15)), p.factor(date(2023, 8, 20)), p.factor(date(2022, 1, 1))
    assert inside > near > far > 0
    assert p.distance(date(2023, 10, 5)) == 0  # within the grace days after the range


def test_an_undated_article_is_neutral_not_infinitely_old():
    p = prior(DateRange(date(2023, 9, 1), date(2023, 9, 30), "in September"))
    days = [date(2010, 1, 1), date(2023, 6, 1), TODAY, None]
    old, middle, new, undated = p.factors(days)
    assert old < middle < new and undated == pytest.approx(new)  # an unknown date is never held against it
    assert p.factors([None]) == [1.0]


def test_as_of_articles_published_later_did_not_exist_yet():
    assert not prior(as_of=True).exists(date(2023, 9, 23))
    assert prior(as_of=True).exists(date(2023, 9, 22)) and prior(as_of=True).exists(None)
    assert prior(as_of=False).exists(date(2023, 9, 23))


# -- with an index -------------------------------------------------------------------------------


def article(key: str, title: str, text: str, published: date | None) -> Article:
    return Article(key=f"file:{key}", title=title, text=text, source=key, published=published, outlet="Test Wire")


ARTICLES = [
    article("casualties", "Russian losses mount", "Russia casualties approach 300,000 this year, officials said. "
            "The losses in Ukraine keep growing as the war goes on.", date(2023, 9, 5)),
    article("artillery", "Putin seeks artillery", "Russia has fired more than seven million artillery rounds in "
            "Ukraine this year alone, an expert said. Production lags far behind.", None),
    article("old-rounds", "Artillery stocks in 2019", "Artillery rounds stockpiles were counted in 2019 by the "
            "army. Russia fired artillery rounds in exercises.", date(2019, 3, 1)),
    article("future", "Artillery rounds fired in Ukraine", "Russia fired artillery rounds in Ukraine, more "
            "than seven million artillery rounds this year alone, a later report said.", date(2023, 10, 30)),
    article("misdated", "Garden show opens", "A garden show opened with roses and tulips in the park.",
            date(2099, 1, 1)),
    article("filler-1", "Weather", "Rain is expected across the region on Monday and Tuesday.", date(2023, 9, 4)),
    article("filler-2", "Markets", "Stocks rose on Friday as markets rallied on bank earnings.", date(2023, 9, 3)),
    article("basilica", "Basílica news", "The Sagrada Família in Barcelona crowned a tower; Søren Niinistö visited.",
            None),
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    from ingest.index import ingest_articles
    from rag.service import Engine

    settings = make_settings(tmp_path_factory.mktemp("fake"))
    embedder = FakeEmbedder()
    report = ingest_articles(ARTICLES, settings, embedder=embedder)
    assert report.totals["added"] == len(ARTICLES)
    return Engine(settings, embedder=embedder).retriever


def titles(retrieval) -> list[str]:
    return [h.passage.title for h in retrieval.hits]


def test_a_misdated_article_does_not_move_today(retriever):
    result = retriever.search("garden roses")
    assert result.today == date(2023, 9, 5)  # the newest date three articles reach within 30 days: not 2099
    assert titles(result)[0] == "Garden show opens"  # and the misdated article is still found


def test_this_year_never_drops_an_undated_article(retriever):
    result = retriever.search("How many artillery rounds has Russia fired in Ukraine this year?", today=date(2023, 9, 22))
    assert result.dates.text == "this year"
    assert "Putin seeks artillery" in titles(result)[:2]
    assert titles(result)[-1] == "Artillery rounds fired in Ukraine" or "Artillery rounds fired in Ukraine" not in \
        titles(result)  # published after the as-of day: after every article that existed


def test_as_of_a_day_later_articles_rank_after_existing_ones(retriever):
    result = retriever.search("artillery rounds fired in Ukraine", today=date(2023, 9, 22))
    ranked = [h.passage.published for h in result.candidates]
    future = [i for i, d in enumerate(ranked) if d and d > date(2023, 9, 22)]
    existing = [i for i, d in enumerate(ranked) if not d or d <= date(2023, 9, 22)]
    assert future and existing and max(existing) < min(future)
    later = retriever.search("artillery rounds fired in Ukraine", today=date(2023, 11, 1))
    assert titles(later)[0] == "Artillery rounds fired in Ukraine"  # as of November it existed and matches best


def test_a_date_in_the_question_is_evidence_not_a_wall(retriever):
    # asked in December about "in 2019": the best-matching article is from 2023 and stays in the results
    result = retriever.search("How many artillery rounds has Russia fired in Ukraine in 2019?", today=date(2023, 12, 1))
    assert result.dates.since == date(2019, 1, 1)
    assert "Artillery stocks in 2019" in titles(result)[:2]
    assert {"Putin seeks artillery", "Artillery rounds fired in Ukraine"} & set(titles(result))


def test_explicit_filters_stay_exact(retriever):
    result = retriever.search("artillery rounds", Filters(since=date(2023, 9, 1)), today=date(2023, 9, 22))
    assert result.hits and all(h.passage.published and h.passage.published >= date(2023, 9, 1) for h in result.hits)
    outlet = retriever.search("artillery rounds", Filters(outlets=("nobody",)))
    assert outlet.hits == ()


def test_names_match_with_or_without_accents(retriever):
    index = retriever.lexical.current()
    basilica = {h.passage.article_id for h in retriever.search("Basílica news").hits if h.passage.title == "Basílica news"}
    for typed in ("Sagrada Familia", "Sagrada Família", "NIINISTO", "Søren"):
        scores = index.scores(typed)
        assert scores.max() > 0 and index.article_ids[int(scores.argmax())] in basilica, typed
    assert retriever.knows("Família") and retriever.knows("familia") and retriever.knows("niinistö")
    assert titles(retriever.search("Who visited the Sagrada Familia?"))[0] == "Basílica news"


def test_an_index_saved_by_an_older_word_splitter_is_rebuilt(retriever):
    import json

    from rag.lexical import TOKENS, LexicalIndex

    meta_path = retriever.lexical.folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["tokens"] == TOKENS
    del meta["tokens"]  # as written before the splitter had a version: "Família" was "fam" + "lia"
    meta_path.write_text(json.dumps(meta))
    assert LexicalIndex.read(retriever.lexical.folder) == (None, "")
    retriever.lexical._index = None
    assert retriever.lexical.get().scores("Familia").max() > 0
    assert json.loads(meta_path.read_text())["tokens"] == TOKENS and retriever.lexical.repairs == []


def test_the_answerer_matches_a_hyphenated_word_by_its_parts_the_index_as_written():
    from rag.lexical import tokens

    words = tokens("Kremlin state-run outlet Tass on the Kim-Putin meeting", parts=True)
    assert {"state-run", "state", "run", "kim-putin", "kim", "putin"} <= set(words)
    assert set(tokens("Which state outlet?", parts=True)) <= set(words)
    assert "state" not in tokens("Kremlin state-run outlet")
