"""Undated articles: the publication date from the URL path or a dateline, never from the running text."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.load import load_file
from ingest.published import infer_published

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
    "https://theweek.com/puzzles/quiz-of-the-week-16-22-september",  # no year anywhere
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
