"""Undated articles: the publication date from the URL path or a dateline, never from the running text."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.load import load_file
from ingest.published import infer_published, resolve_yearless, yearless_date

pytestmark = pytest.mark.unit
SEEDS = Path(__file__).resolve().parent.parent / "data" / "articles"
TODAY = date(2024, 1, 15)
BODY = "The ministry said the new rules would apply to all ports.\n\nOfficials gave no further details."


@pytest.mark.parametrize("url", [
    "https://www.cnn.com/2023/09/05/politics/story/index.html",
    "https://example.com/news/2023-09-05/story",
    "https://example.com/news/20230905/story",
    "https://example.com/news/story-20230905.html",
    "https://www.theguardian.com/world/2023/sep/05/story",
    "https://www.theguardian.com/world/2023/september/05/story",
    "https://www.theweek.co.uk/news/955131/ten-things-you-need-to-know-today-5-september-2023",
    "https://example.com/briefing/september-5-2023.html",
    "https://edition.cnn.com/interactive/2023/09/us/cnn-5-things-news-quiz-september-5-sec/#q1",
])
def test_url_forms(url):
    assert infer_published(BODY, url, today=TODAY) == date(2023, 9, 5)


@pytest.mark.parametrize("url", [
    "https://edition.cnn.com/interactive/2023/09/us/news-quiz/",  # month only
    "https://www.usatoday.com/story/news/70884391007/",  # an id, not a date
    "https://example.com/2023/02/30/story",  # no such day
    "https://theweek.com/puzzles/quiz-of-the-week#20230922_0",  # a fragment is not the path
    "https://theweek.com/puzzles/quiz-of-the-week-30-september-6-october",  # no year: the period it covers
    "https://example.com/2023/10/us/what-happened-september-5",  # the slug's month is not the path's
    "https://example.com/news/remembering-september-11-2001-victims",  # a date inside a slug is an event
    "",
])
def test_url_without_a_full_date(url):
    assert infer_published(BODY, url, today=TODAY) is None


@pytest.mark.parametrize("head, expected", [
    ("WASHINGTON, Sept 5 (Reuters) - The U.S. said", date(2023, 9, 5)),
    ("LONDON, Oct. 3, 2023 (AP) — Britain said", date(2023, 10, 3)),
    ("Sept. 5, 2023 /PRNewswire/ -- Acme Corp. announced", date(2023, 9, 5)),
    ("Published 10:05 AM EDT, Tue September 5, 2023\n\nThe U.S. said", date(2023, 9, 5)),
    ("Updated 3:12 PM EDT, September 5, 2023\n\nThe U.S. said", date(2023, 9, 5)),
    ("SAN FRANCISCO, Calif., Sept. 5, 2023 (BUSINESS WIRE) -- Acme said", date(2023, 9, 5)),
    ("CNN —\n\nPublished 9:00 AM EDT, Mon October 2, 2023\n\nThe U.S. said", date(2023, 10, 2)),
])
def test_dateline_forms(head, expected):
    assert infer_published(head + "\n\n" + BODY, today=TODAY) == expected


def test_no_date_anywhere():
    assert infer_published(BODY, "https://example.com/news/story", today=TODAY) is None
    assert infer_published("", today=TODAY) is None


def test_dateline_without_a_year_takes_the_latest_year_not_after_today():
    text = "WASHINGTON, Sept 5 (Reuters) - " + BODY
    assert infer_published(text, today=date(2023, 9, 20)) == date(2023, 9, 5)
    assert infer_published(text, today=date(2023, 9, 5)) == date(2023, 9, 5)
    assert infer_published(text, today=date(2023, 9, 4)) == date(2022, 9, 5)


@pytest.mark.parametrize("text, expected", [
    ("WASHINGTON, Sept 5 (Reuters) - " + BODY, (9, 5)),
    ("LONDON, 29 February (AP) — " + BODY, (2, 29)),
    ("LONDON, Oct. 3, 2023 (AP) — " + BODY, None),  # a full date
    ("The court ruled on Sept. 5 that the port may reopen. " + BODY, None),  # not a dateline
    (BODY, None),
])
def test_yearless_datelines(text, expected):
    assert yearless_date(text) == expected


def test_a_yearless_date_takes_the_year_nearest_the_reference_never_after_today():
    today = date(2026, 11, 30)
    assert resolve_yearless((9, 22), date(2023, 10, 20), today) == date(2023, 9, 22)
    assert resolve_yearless((1, 3), date(2023, 12, 20), today) == date(2024, 1, 3)  # across New Year
    assert resolve_yearless((12, 5), today, today) == date(2025, 12, 5)  # never in the future
    assert resolve_yearless((2, 29), date(2023, 3, 1), today) == date(2024, 2, 29)  # the only leap year near


def test_dates_out_of_range_are_rejected():
    assert infer_published(BODY, "https://example.com/2031/01/01/story", today=TODAY) is None
    assert infer_published("LONDON, Jan. 1, 2031 (AP) — " + BODY, today=TODAY) is None
    assert infer_published("LONDON, Jan. 1, 1985 (AP) — " + BODY, today=TODAY) is None
    assert infer_published(BODY, "https://example.com/2024/01/16/story", today=TODAY) == date(2024, 1, 16)  # +1 day


def test_dates_in_the_running_text_are_events_not_publication():
    deep = "x " * 200 + "\nWASHINGTON, Sept 5 (Reuters) - " + BODY  # a dateline-shaped line past the head
    assert infer_published(deep, today=TODAY) is None
    assert infer_published("The court ruled on Sept. 5, 2023 that the port may reopen. " + BODY, today=TODAY) is None
    assert infer_published("Notable events\n\nJanuary 3 - The agency approved a drug.\n" + BODY, today=TODAY) is None
    assert infer_published("Dec. 25, 1931:\n\nThe fates collaborated late that year.", today=TODAY) is None


def test_url_wins_over_dateline_and_published_over_updated():
    text = "LONDON, Oct. 3, 2023 (AP) — " + BODY
    assert infer_published(text, "https://example.com/2023/10/02/story", today=TODAY) == date(2023, 10, 2)
    stamps = "Updated 3:12 PM EDT, September 6, 2023\nPublished 10:05 AM EDT, Tue September 5, 2023\n\n" + BODY
    assert infer_published(stamps, today=TODAY) == date(2023, 9, 5)


def test_plain_text_file_dated_by_its_url(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("URL: https://example.com/world/2023/09/05/ports-reopen\n\nPorts reopen in Velmora\n\n" + BODY)
    (article,) = load_file(path, root=tmp_path).articles
    assert article.published == date(2023, 9, 5)


def test_metadata_date_is_kept_over_the_url(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Date: 2023-09-06\nURL: https://example.com/world/2023/09/05/ports-reopen\n\nPorts reopen\n\n" + BODY)
    (article,) = load_file(path, root=tmp_path).articles
    assert article.published == date(2023, 9, 6)


def test_bundled_undated_article_stays_undated():
    (article,) = load_file(SEEDS / "004_9012087371da2540.txt", root=SEEDS).articles
    assert article.published is None


@pytest.mark.integration
def test_an_archive_s_yearless_dateline_takes_the_archive_s_year(tmp_path, embedder):
    """A 2023 archive ingested years later: "Sept 5 (Reuters)" is 5 September 2023, though its file comes first;
    alone in an index, it takes the year nearest today, never after it."""
    from ingest.index import ingest_paths
    from rag.store import get_store
    from tests.conftest import make_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a_wire.txt").write_text("Ports reopen\n\nWASHINGTON, Sept 5 (Reuters) - The ministry said the "
                                       "ports would reopen on Monday after the strike ended.\n" + BODY * 8, encoding="utf-8")
    for n, day in enumerate((1, 2, 4, 6)):
        (folder / f"b_{n}.json").write_text(
            f'{{"title": "Harbour strike, day {n}", "published": "2023-09-{day:02d}", '
            f'"text": "Dock workers stayed out for a day {n} of talks over pay and hours at the harbour."}}',
            encoding="utf-8")
    settings = make_settings(tmp_path, folder, ingest={"batch_chunks": 1})  # one article a batch: the wire first
    report = ingest_paths([folder], settings, embedder=embedder)
    assert report.totals["added"] == 5
    dates = {r.title: r.published for r in get_store(settings, embedder.name).records().values()}
    assert dates["Ports reopen"] == "2023-09-05"
    note = next(item.reason for item in report.items if item.title == "Ports reopen")
    assert "without a year" in note and "2023-09-06" in note  # the corpus's today that chose the year

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "wire.txt").write_text((folder / "a_wire.txt").read_text(encoding="utf-8"), encoding="utf-8")
    settings = make_settings(tmp_path / "second", alone)
    ingest_paths([alone], settings, embedder=embedder)
    (record,) = get_store(settings, embedder.name).records().values()
    today = date.today()
    assert record.published == resolve_yearless((9, 5), today, today).isoformat()
