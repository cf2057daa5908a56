"""A question about change over time gets a timeline-shaped answer: one cited sentence an article, in the order
the articles were published. The real model and a real Chroma index of a small story told over three weeks."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ingest.index import ingest_paths
from rag.answer.extractive import asks_for_timeline, timeline_topic
from rag.service import answer, get_engine

from .conftest import make_settings

pytestmark = pytest.mark.integration

STORY = [  # (day, outlet, title, text): listed out of order on purpose
    ("2024-03-08", "Velmora Daily", "Velmora rail union accepts new pay deal, ending strike",
     "Rail workers in Velmora voted to accept a new pay offer on Friday, ending the strike that halted commuter "
     "trains for nearly three weeks. The deal raises drivers' pay by nine percent over two years."),
    ("2024-02-20", "Velmora Daily", "Velmora rail workers begin a three-day strike over pay",
     "Train drivers and conductors in Velmora walked out on Tuesday, halting most commuter services across the "
     "capital. The union said its members had been offered a pay rise of three percent."),
    ("2024-02-27", "Northern Courier", "Velmora rail strike extended as talks collapse",
     "The Velmora rail union extended its strike by two weeks after talks with the transport ministry collapsed "
     "on Monday. Commuters faced a second week of cancelled trains and crowded buses."),
    ("2024-02-22", "Tessaly Times", "Harbour bridge traffic eases in Port Tessaly",
     "Traffic on the reopened harbour bridge in Port Tessaly eased this week as the new tolls took effect."),
    ("2024-03-01", "Tessaly Times", "Glowfish season starts early in Quillhaven",
     "Fishermen in Quillhaven reported the first glowfish of the season, two weeks earlier than usual."),
]


@pytest.fixture(scope="module")
def story(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("story")
    folder = root / "articles"
    folder.mkdir()
    for n, (day, outlet, title, text) in enumerate(STORY):
        (folder / f"{n}.json").write_text(json.dumps({"title": title, "published": day, "outlet": outlet,
                                                      "text": text}), encoding="utf-8")
    settings = make_settings(root, folder)
    assert ingest_paths([folder], settings, embedder=embedder).totals["added"] == len(STORY)
    return settings


def test_how_has_it_changed_is_answered_in_publication_order(story):
    result = answer("How has the Velmora rail strike developed since it began?", settings=story,
                    today=date(2024, 3, 10), engine=get_engine(story))
    assert result.shape == "timeline" and not result.refused
    days = [result.citations[n - 1].published for s in result.sentences for n in s.citations[:1]]
    assert days == sorted(days) and len(days) >= 3, result.text
    assert days[0] == date(2024, 2, 20) and days[-1] == date(2024, 3, 8)
    titles = {c.title for c in result.citations}
    assert all("Velmora" in t for t in titles), titles  # the other stories stay out
    assert all(s.verdict == "supported" for s in result.sentences)
    # every edge shows it as a list, a line per event with its source's day, oldest first
    from rag.outputs import answer_markdown, marked_text
    from ui.render import answer_markdown as page_markdown

    lines = marked_text(result).splitlines()
    assert len(lines) == len(result.sentences) and lines[0].startswith("- 20 Feb 2024: ") and "[" in lines[0]
    assert answer_markdown(result).startswith("- 20 Feb 2024: ")
    page = [line for line in page_markdown(result, 0).splitlines() if line.startswith("- **")]
    assert len(page) == len(result.sentences) and page[0].startswith("- **20 Feb 2024**: ")
    assert page[-1].startswith("- **8 Mar 2024**: ")


def test_a_question_for_one_fact_keeps_the_answer_shape(story):
    result = answer("By how much does the new deal raise drivers' pay?", settings=story, today=date(2024, 3, 10),
                    engine=get_engine(story))
    assert result.shape == "answer" and "nine percent" in result.text


@pytest.mark.unit
@pytest.mark.parametrize("question, timeline", [
    ("How has the rail strike developed since it began?", True),
    ("What has happened with the merger?", True),
    ("What's changed since Monday in the talks?", True),
    ("Give me a timeline of the Velmora strike", True),
    ("What are the latest developments in the strike?", True),
    ("How did the war change in September?", True),
    ("How many rounds has Russia fired this year?", False),
    ("How did he die?", False),
    ("What happened to the bridge tolls?", False),  # one fact: no "has" and no since
    ("Who won the Singapore Grand Prix?", False),
])
def test_questions_about_change_are_told_apart(question, timeline):
    assert asks_for_timeline(question) is timeline


@pytest.mark.unit
@pytest.mark.parametrize("question, topic", [
    ("Give me a timeline of the Wagner mutiny", "the Wagner mutiny"),
    ("How has the debt ceiling standoff developed?", "the debt ceiling standoff"),
    ("What are the latest developments in the strike?", "the strike"),
    ("What's changed since Monday in the talks?", "since Monday in the talks"),  # the date stays for retrieval
])
def test_the_timeline_s_subject_is_what_is_searched_for(question, topic):
    assert timeline_topic(question) == topic
