"""Figures over time (rag/figures.py) on hand-written texts, a story's timeline with its figures through a real
index (fake embedder) and the CLI, the Markdown of timelines and digests (rag/timeline.py), and the Digest and
Timeline tabs' HTML (ui/story_views.py) and messages (ui/stories.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from rag.figures import ALL_RULES, RULES, Doc, mentions, names, singular, track
from rag.timeline import DigestItem, Event, StoryTimeline, digest_markdown, timeline_markdown
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.unit


def found(text: str) -> list[tuple[str, float, str]]:
    return [(m.key, m.value, m.text) for m in mentions(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Russia has suffered 300,000 casualties, officials said.", [("casualty", 300_000, "300,000")]),
    ("Russia fired seven million artillery rounds this year.", [("round", 7_000_000, "seven million")]),
    ("The US approved a $4.2 billion aid package.", [("$ package", 4.2e9, "$4.2 billion")]),
    ("Congress passed $4.2 billion in aid.", [("$ aid", 4.2e9, "$4.2 billion")]),
    ("He won 52% of the vote.", [("% vote", 52, "52%")]),
    ("About 300,000 Russian soldiers killed or wounded.", [("soldier killed", 300_000, "300,000")]),
    ("The quake killed 5,000 people. At least 11 people were killed.", [("people killed", 11, "11")]),
    ("Russia fired 7 million artillery rounds, up from 4 million rounds.", [("round", 7e6, "7 million"),
                                                                          ("round", 4e6, "4 million")]),
    ("It hit 150,000 homes as a Category 4 hurricane.", [("home", 150_000, "150,000")]),
    ("Power was back for 1.5 million customers.", [("customer", 1.5e6, "1.5 million")]),
    ("Nearly half a million people have fled.", [("people fled", 5e5, "half a million")]),
    ("Two hundred Democrats voted no.", [("democrat", 200, "Two hundred")]),
])
def test_a_figure_is_a_number_and_the_noun_it_counts(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    "Bitcoin rose to $30,000 on Monday.",  # nothing counted follows
    "Inflation fell to 6.4% in January.",
    "The 2023 budget was approved.",  # a year
    "The Feb. 6 earthquake struck at night.",  # a day of a month
    "A 30-year-old man and a 7.8-magnitude quake.",  # hyphenated
    "Two years later, talks resumed. It lasted 40 days.",  # time
    "Snow reached 30 inches; it was 20 degrees Fahrenheit.",  # measures of places, not one count
    "It killed 5,000 people.",  # people, but nothing says what happened to them after the noun
    "Rail workers in Velmora began a strike on Tuesday.",  # no number
])
def test_numbers_that_count_nothing_trackable_are_no_figures(text):
    assert found(text) == []


def test_singular_of_head_nouns():
    assert [singular(w) for w in ("casualties", "rounds", "people", "votes", "press", "status", "Crisis", "inches",
                                  "night's", "boxes")] == [
        "casualty", "round", "people", "vote", "press", "status", "crisis", "inch", "night", "box"]


def doc(aid: str, day: str | None, outlet: str, text: str, offset: int = 0) -> Doc:
    return Doc(aid, date.fromisoformat(day) if day else None, f"Title {aid}", outlet, f"https://x.test/{aid}",
               ((text, offset),))


def test_a_figure_that_changes_over_days_is_tracked_in_date_order_with_its_outlets():
    docs = [
        doc("c", "2024-02-22", "Ostrand Wire", "Now 4,000 workers are on strike. Another 12 workers joined."),
        doc("a", "2024-02-20", "Velmora Gazette", "About 1,200 workers walked out. The union has 90 branches."),
        doc("b", "2024-02-21", "Ostrand Wire", "Some 2,500 workers are out. The union has 90 branches."),
        doc("b2", "2024-02-21", "Velmora Gazette", "Union officials said 2,500 workers had joined.", offset=40),
        doc("u", None, "Sarnia Post", "As many as 9,000 workers may strike."),  # undated: no place in time
    ]
    figures = track(docs)
    assert [f.key for f in figures] == ["worker"]  # branches never change; later counts of workers are not read
    values = figures[0].values
    assert [(v.published.isoformat(), v.value, v.outlets) for v in values] == [
        ("2024-02-20", 1200, ("Velmora Gazette",)), ("2024-02-21", 2500, ("Ostrand Wire", "Velmora Gazette")),
        ("2024-02-22", 4000, ("Ostrand Wire",))]
    assert values[1].sentence == "Some 2,500 workers are out." and values[1].article_id == "b"
    assert values[0].url == "https://x.test/a" and (values[0].start, values[0].end) == (0, 31)
    later = track([doc("a", "2024-02-20", "", "First 10 trucks arrived."), doc("b", "2024-02-20", "", "Then 30 trucks.")])
    assert later == []  # two values on one day is no change over time


def test_overlapping_pieces_are_read_once_and_spans_are_the_articles():
    text = "Rescuers found 40 survivors. By night 55 survivors were counted."
    docs = [Doc("a", date(2024, 1, 1), "t", "o", "", ((text[:30], 0), (text[20:], 20))),
            doc("b", "2024-01-02", "p", "Crews found 70 survivors.")]  # a second outlet: the spread rule
    (figure,) = track(docs)
    assert [v.value for v in figure.values] == [40, 70]
    assert text[figure.values[0].start:figure.values[0].end] == "Rescuers found 40 survivors."


def keys_and_values(docs: list[Doc], rules: tuple[str, ...] = RULES) -> list[tuple[str, list[float]]]:
    return [(f.key, [v.value for v in f.values]) for f in track(docs, rules=rules)]


def test_a_rate_is_no_count():  # rule "rate": "points per game" counts no games
    assert found("He averages 17.2 points per game.") == []
    assert [m.key for m in mentions("He averages 17.2 points per game.", rules=())] == ["game"]
    assert found("The firm cut 300 jobs per plant.") == []
    assert found("The firm cut 300 jobs at the plant.") == [("job", 300, "300")]  # a count stays one


def test_the_whole_of_a_fraction_is_no_count():  # rule "fraction"
    assert found("He scored 10 points on 3 of 11 shots.") == []
    assert found("She made five of her 16 attempts.") == []
    assert [m.key for m in mentions("He scored on 3 of 11 shots.", rules=())] == ["shot"]
    assert found("Of the 37 deaths, 29 were in Buffalo.") == [("death", 37, "37")]  # no number before "of"


def test_a_speed_is_no_count():  # rule "speed": wind speeds are of places and moments
    assert found("Winds reached 150 mph near Cayo Costa.") == []
    assert [m.key for m in mentions("Winds reached 150 mph.", rules=())] == ["mph"]
    assert [m.key for m in mentions("Winds reached 150 mph near Cayo Costa.", rules=())] == ["cayo"]
    assert found("The storm cut power to 150 homes.") == [("home", 150, "150")]


def test_names_of_a_sentence():
    assert names("Nearly 2 million Florida customers lost power, according to PowerOutage.us.") == {"flori", "power"}
    assert names("Restrictions on the Russian central bank, the Kremlin said on Monday in August.") == {"russi", "kreml"}
    assert names("Lyft cut 13% of its staff.") == set()  # a first word is capitalised anyway
    assert names("Lyft cut 13% of its staff.", known=frozenset({"lyft"})) == {"lyft"}  # ... unless a name elsewhere


def test_values_must_share_the_figures_subject():  # rule "subject"
    series = [doc("a", "2024-02-20", "Gazette", "Lyft said 700 employees would go, Lyft's chief wrote."),
              doc("b", "2024-02-21", "Wire", "Lyft now says 1,072 employees will go."),
              doc("c", "2024-02-22", "Post", "In all 1,100 employees will go, the company said.")]  # names nothing
    assert keys_and_values(series) == [("employee", [700, 1072, 1100])]
    near_miss = [doc("a", "2024-02-20", "Gazette", "The company said Lyft would cut 1,072 employees."),
                 doc("b", "2024-02-21", "Wire", "The retailer said Amazon would cut 18,000 employees."),
                 doc("c", "2024-02-22", "Post", "The bank said Citi would cut 2,000 employees.")]
    assert keys_and_values(near_miss, ("subject",)) == []  # three companies: no name in two of them
    assert keys_and_values(near_miss, ()) == [("employee", [1072, 18000, 2000])]
    two_of_four = [*near_miss, doc("d", "2024-02-23", "Times", "The company said Lyft would cut 1,200 employees.")]
    assert keys_and_values(two_of_four, ("subject",)) == []  # Lyft in two sentences of four naming something


def test_a_figure_needs_two_outlets_or_three_days():  # rule "spread"
    two_days = [doc("a", "2024-02-20", "Gazette", "About 1,200 workers walked out."),
                doc("b", "2024-02-21", "Gazette", "Some 2,500 workers are out.")]
    assert keys_and_values(two_days) == []  # one outlet, two days: one reporter's two numbers
    assert keys_and_values(two_days, ()) == [("worker", [1200, 2500])]
    assert keys_and_values([two_days[0], doc("b", "2024-02-21", "Wire", "Some 2,500 workers are out.")]) == [
        ("worker", [1200, 2500])]
    assert keys_and_values([two_days[0], doc("b", "2024-02-21", "", "Some 2,500 workers are out.")]) == []  # unknown
    three_days = [*two_days, doc("c", "2024-02-22", "Gazette", "Now 4,000 workers are out.")]
    assert keys_and_values(three_days) == [("worker", [1200, 2500, 4000])]


def test_the_owner_and_cumulative_rules_are_measured_but_off_by_default():
    assert set(RULES) < set(ALL_RULES)
    assert found("Trump's 34 charges were read.") == [("charge", 34, "34")]
    assert [m.key for m in mentions("Trump's 34 charges were read.", rules=("owner",))] == ["Trump's charge"]
    tolls = [doc("a", "2024-02-20", "Gazette", "At least 96 people were killed on Maui."),
             doc("b", "2024-02-21", "Wire", "The Camp Fire left 85 people killed in 2018."),
             doc("c", "2024-02-22", "Post", "The toll rose: 106 people were killed.")]
    assert keys_and_values(tolls, ("cumulative",)) == [("people killed", [96, 106])]  # a smaller, later toll dropped
    assert keys_and_values(tolls, ()) == [("people killed", [96, 85, 106])]
    with pytest.raises(ValueError, match="unknown figure rules"):
        track(tolls, rules=("nonsense",))


def event(aid: str, day: str | None, outlet: str, sentence: str, url: str = "") -> Event:
    return Event(date.fromisoformat(day) if day else None, sentence, f"Title {aid}", outlet, url, aid, 0, len(sentence))


def test_digest_markdown_lists_stories_with_outlets_newest_day_cited_leads_and_the_timeline_command():
    items = [DigestItem("s1", ("Ostrand Wire", "Velmora Gazette"), date(2024, 2, 22), 3,
                        (event("c", "2024-02-22", "Velmora Gazette", "Day three.", "https://v.test/c"),
                         event("b", "2024-02-21", "Ostrand Wire", "Day two."))),
             DigestItem("o", (), date(2024, 2, 21), 1, (event("o", "2024-02-21", "", "Olives."),))]
    text = digest_markdown(items, date(2024, 2, 15), date(2024, 2, 22))
    assert text.splitlines() == [
        "# What's new from 2024-02-15 to 2024-02-22: 2 stories", "",
        "## 1. Title c", "",
        "2 outlet(s) (Ostrand Wire, Velmora Gazette) · 3 article(s) · newest 2024-02-22 · timeline: "
        "`newsrag timeline s1`", "",
        "- 2024-02-22: “Day three.” ([Title c](https://v.test/c), Velmora Gazette)",
        "- 2024-02-21: “Day two.” (Title b, Ostrand Wire)", "",
        "## 2. Title o", "",
        "0 outlet(s) (unknown) · 1 article(s) · newest 2024-02-21 · timeline: `newsrag timeline o`", "",
        "- 2024-02-21: “Olives.” (Title o)"]
    assert digest_markdown([], date(2024, 2, 15), date(2024, 2, 22)).startswith("# What's new from 2024-02-15 to "
                                                                                "2024-02-22: 0 stories")


def test_timeline_markdown_lists_events_in_order_undated_as_unknown_then_figures():
    (figure,) = track([doc("a", "2024-02-20", "Gazette", "About 1,200 workers walked out."),
                       doc("b", "2024-02-21", "Wire", "Some 2,500 workers are out.")])
    found = StoryTimeline("s1", (event("a", "2024-02-20", "Gazette", "One."), event("u", None, "", "Undated.")),
                          (figure,))
    assert timeline_markdown(found).splitlines() == [
        "# Timeline of s1: 2 article(s)", "",
        "- 2024-02-20: “One.” (Title a, Gazette)",
        "- date unknown: “Undated.” (Title u)", "",
        "## Figures over time", "", "### worker", "",
        "- 2024-02-20: **1,200**: “About 1,200 workers walked out.” ([Title a](https://x.test/a), Gazette)",
        "- 2024-02-21: **2,500**: “Some 2,500 workers are out.” ([Title b](https://x.test/b), Wire)"]


STRIKE = ("Title: {title}\nDate: {day}\nOutlet: {outlet}\n\nRail workers in Velmora began a strike over pay, and "
          "{count} workers stopped trains between Velmora and Ostrand, union leader Mara Quell said on {weekday}.\n\n"
          "The Velmora Rail Union asked the transport ministry for talks on pay and rail safety.\n")


def strike_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, outlet, day, weekday, count in (("s1", "Velmora Gazette", "2024-02-20", "Tuesday", "1,200"),
                                              ("s2", "Ostrand Wire", "2024-02-21", "Wednesday", "2,500"),
                                              ("s3", "Velmora Gazette", "2024-02-22", "Thursday", "4,000")):
        (folder / f"{name}.txt").write_text(STRIKE.format(title=f"Velmora rail strike, {weekday}", day=day,
                                                          outlet=outlet, count=count, weekday=weekday))


def test_a_storys_timeline_carries_its_figures_and_the_cli_prints_them(tmp_path: Path, monkeypatch, capsys):
    from ingest.index import ingest_paths
    from rag import cli, embed
    from rag.store import get_store
    from rag.stories import load_story_table
    from rag.timeline import story_timeline

    folder, embedder = tmp_path / "articles", FakeEmbedder()
    settings = make_settings(tmp_path, folder)
    strike_corpus(folder)
    ingest_paths([folder], settings, embedder=embedder)
    store, table = get_store(settings, embedder.name), load_story_table(settings)
    timeline = story_timeline(store, table, "Velmora rail strike")
    assert timeline is not None and [e.published.isoformat() for e in timeline.events] == [
        "2024-02-20", "2024-02-21", "2024-02-22"]
    assert [(f.key, [v.text for v in f.values]) for f in timeline.figures] == [("worker", ["1,200", "2,500", "4,000"])]
    window = story_timeline(store, table, timeline.story, since=date(2024, 2, 22))
    assert window is not None and len(window.events) == 1 and window.figures == ()  # one day: nothing changes
    assert story_timeline(store, table, "zebra crossing") is None

    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{folder}"\nindex_dir = "{tmp_path / "index"}"\n')
    monkeypatch.setattr(embed, "get_embedder", lambda _settings: embedder)
    assert cli.main(["--config", str(config), "timeline", "Velmora strike", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [v["published"] for v in data["figures"][0]["values"]] == ["2024-02-20", "2024-02-21", "2024-02-22"]
    assert cli.main(["--config", str(config), "timeline", "Velmora strike", "--markdown"]) == 0
    assert "## Figures over time" in capsys.readouterr().out
    assert cli.main(["--config", str(config), "timeline", "Velmora strike"]) == 0
    assert "figure: worker" in capsys.readouterr().out
    assert cli.main(["--config", str(config), "digest", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# What's new from 2024-02-15 to 2024-02-22: 1 story") and "2 outlet(s)" in out


def test_the_tabs_html_escapes_links_sources_and_tells_empty_results():
    from ui.story_views import digest_html, notice, timeline_html

    lead = event("a", "2024-02-20", "Gazette <b>", "Workers <walked> out.", "https://v.test/a?x=1&y=\"2\"")
    html = digest_html([DigestItem("s<1>", ("Gazette <b>",), date(2024, 2, 20), 1, (lead,))], date(2024, 2, 13),
                       date(2024, 2, 20))
    assert "13–20 Feb 2024: 1 story" in html and 'data-count="1">1 outlet</span>' in html
    assert "Workers &lt;walked&gt; out." in html and "Gazette &lt;b&gt;" in html and "<walked>" not in html
    assert 'href="https://v.test/a?x=1&amp;y=&quot;2&quot;"' in html
    assert 'class="nr-open-timeline" data-story="s&lt;1&gt;"' in html
    assert "No articles were published in 1–7 Mar 2024" in digest_html([], date(2024, 3, 1), date(2024, 3, 7))
    found = StoryTimeline("s1", (event("a", "2024-02-20", "Gazette", "One."), event("u", None, "", "Undated.")), ())
    page = timeline_html(found)
    assert page.index('data-day="2024-02-20"') < page.index('data-day=""') and "date unknown" in page
    assert "nr-figures" not in page and "2 articles from 1 outlet" in page
    empty = timeline_html(StoryTimeline("s1", (), ()), date(2024, 3, 1), None)
    assert "The story s1 has no articles published since 1 Mar 2024" in empty
    assert notice("<x>", warning=True).startswith('<div class="nr-notice">⚠️ &lt;x&gt;')


def test_the_tabs_tell_an_empty_index_and_bad_dates_as_messages(tmp_path: Path):
    from ui.stories import StoryTabs

    tabs = StoryTabs(make_settings(tmp_path))
    assert "No articles indexed yet" in tabs.timeline("Velmora strike", "", "")
    page, markdown, download = tabs.digest("", "")
    assert "No articles indexed yet" in page and markdown == "" and download["interactive"] is False
    assert "Since expects a date as YYYY-MM-DD" in tabs.digest("last week", "")[0]
    assert "The date range is reversed" in tabs.timeline("strike", "2024-03-02", "2024-03-01")
    assert "Type a story id" in tabs.timeline("  ", "", "")


def test_one_event_reported_by_several_outlets_the_same_day_is_one_line():
    import numpy as np

    from rag.timeline import one_line_per_report

    def event(day, outlet, sentence, n):
        return Event(date(2024, 2, day), sentence, f"title {n}", outlet, "", f"a{n}", 0, len(sentence))

    strike = "Rail workers in Velmora walked out over pay on Tuesday, halting trains."
    events = [event(20, "Velmora Gazette", strike, 1), event(20, "Ostrand Wire", strike + " ", 2),  # the same report
              event(20, "Velmora Gazette", strike + "  ", 3),  # the same outlet again: its own line
              event(20, "Sarnia Post", "Olive farmers in Sarnia expect a smaller harvest.", 4),  # another event
              event(21, "Ostrand Wire", strike + "   ", 5),  # another day
              Event(None, strike, "undated", "North Star", "", "a6", 0, 10)]  # no day to share

    def embed(texts):  # the same words are the same vector; the olive sentence points elsewhere
        return np.array([[1.0, 0.0] if "Velmora" in t else [0.0, 1.0] for t in texts])

    lines = one_line_per_report(events, embed)
    assert [e.article_id for e in lines] == ["a1", "a3", "a4", "a5", "a6"]
    assert lines[0].outlets == ("Velmora Gazette", "Ostrand Wire") and lines[1].outlets == ("Velmora Gazette",)
    assert markdown_cites_every_outlet(lines[0])


def markdown_cites_every_outlet(event) -> bool:
    text = timeline_markdown(StoryTimeline("s1", (event,), ()))
    return all(outlet in text for outlet in event.outlets)
