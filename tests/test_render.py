"""How answers look: markers link to sources, unsupported sentences and refusals are marked (pure functions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from rag.schema import Answer, AnswerSentence, ArticleReport, Citation, DateRange, Filters, IngestReport, Refusal, Support
from ui import render

pytestmark = pytest.mark.unit

PASSAGE = "The bridge reopened on Monday. Repairs cost 14 million tessals, the office said."
CITATION = Citation(1, "a1", "c1", "Bridge <reopens>", "Tessaly Times", date(2024, 1, 15), "https://t.example/b", "b.html",
                    PASSAGE, 100, 100 + len(PASSAGE), ("Other Paper",))


def make(sentences, refused=False, complete=True, note=""):
    return Answer("q", "q", "text", tuple(sentences), () if refused else (CITATION,),
                  refusal=Refusal("missing_terms", "The indexed articles never mention “Zorbia”.") if refused else None,
                  complete=complete, note=note)


def test_markers_link_to_sources_and_unsupported_is_marked():
    supported = AnswerSentence("Repairs cost 14 million tessals.", (1,), "supported",
                               (Support(1, "Repairs cost 14 million tessals, the office said.", 131, 180, 0.9, 1.0),))
    unsupported = AnswerSentence("The mayor resigned.", (1,), "unsupported")
    text = render.answer_markdown(make([supported, unsupported], complete=False, note="Only 3 of 5 passages fit."), 3)
    assert "Repairs cost 14 million tessals. [[1]](#src-3-1)" in text  # answer 3's own source 1
    assert "⚠️ *The mayor resigned.* (not supported by the sources)" in text
    assert "incomplete" in text and "Only 3 of 5 passages fit." in text


def test_refusal_reads_as_information():
    text = render.answer_markdown(make([], refused=True), 1)
    assert text.startswith("ℹ️ ") and "⚠️" not in text
    assert "nr-empty" in render.sources_html(make([], refused=True), 1)


def test_sources_panel_highlights_the_supporting_sentence_and_escapes_html():
    support = Support(1, "The bridge reopened on Monday.", 100, 130, 0.9, 1.0)
    sentence = AnswerSentence("It reopened.", (1,), "supported", (support,))
    html = render.sources_html(make([sentence]), 1)
    assert 'id="src-1-1"' in html and "<mark>The bridge reopened on Monday.</mark>" in html
    assert "Bridge &lt;reopens&gt;" in html and "Tessaly Times · 2024-01-15" in html
    assert "also reported by Other Paper" in html and 'href="https://t.example/b"' in html


def test_report_rows_put_failures_first():
    report = IngestReport((ArticleReport("a.txt", "added", "A", "x", 2), ArticleReport("b.txt", "failed", reason="empty file")))
    assert render.report_rows(report)[0] == ["failed", "b.txt", "", 0, "empty file"]
    assert render.report_summary(report).startswith("1 added, 1 failed")


def test_login_needs_a_password_from_the_environment(monkeypatch):
    from rag.config import Settings
    from rag.errors import ConfigError
    from ui.server import auth

    assert auth(Settings()) is None  # no login by default
    settings = Settings().replace(ui={"auth_user": "editor"})
    monkeypatch.delenv("NEWSRAG_UI_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="NEWSRAG_UI_PASSWORD"):
        auth(settings)
    monkeypatch.setenv("NEWSRAG_UI_PASSWORD", "s3cret")
    assert auth(settings) == ("editor", "s3cret")
    assert Settings().ui.host == "127.0.0.1"


def test_day_ranges_read_as_people_write_them():
    assert render.span_words(date(2023, 9, 12), date(2023, 9, 20)) == "12–20 Sept 2023"
    assert render.span_words(date(2023, 8, 28), date(2023, 9, 3)) == "28 Aug – 3 Sept 2023"
    assert render.span_words(date(2022, 12, 28), date(2023, 1, 3)) == "28 Dec 2022 – 3 Jan 2023"
    assert render.span_words(date(2023, 6, 5), date(2023, 6, 5)) == "5 June 2023"
    assert render.span_words(date(2023, 9, 1), None) == "since 1 Sept 2023"
    assert render.span_words(None, date(2023, 7, 4)) == "until 4 July 2023"
    assert render.span_words(None, None) == ""


def test_the_filters_in_effect_and_the_dates_read_are_shown_above_the_answer():
    sentence = AnswerSentence("It reopened.", (1,), "supported")
    filtered = replace(make([sentence]), filters=Filters(date(2023, 9, 12), date(2023, 9, 20), ("Reuters",)),
                       dates=DateRange(date(2023, 9, 4), date(2023, 9, 10), "last week"))
    head = render.answer_markdown(filtered, 1).split("\n\n")[0]
    assert head.startswith("*Filters: 12–20 Sept 2023 · Reuters*")
    assert "“last week” = 4–10 Sept 2023" in head
    refused = replace(make([], refused=True), filters=Filters(outlets=("AP", "Reuters")))
    assert render.answer_markdown(refused, 1).startswith("*Filters: AP, Reuters*\n\nℹ️ ")
    assert not render.answer_markdown(make([sentence]), 1).startswith("*")  # no filters, no line


def test_one_card_per_article_with_its_passages_grouped_in_article_order():
    later = replace(CITATION, number=2, chunk_id="c2", passage="Traffic returned by noon.", passage_start=900,
                    passage_end=925, also_reported=())
    other = replace(CITATION, number=3, article_id="a2", chunk_id="c9", title="Another story", passage="Elsewhere.")
    answer = Answer("q", "q", "t", (AnswerSentence("x", (2, 1, 3), "supported"),), (later, CITATION, other))
    html = render.sources_html(answer, 5)
    assert html.count('class="nr-source"') == 2
    first, second = html.split('class="nr-source"')[1:]
    assert "[1][2]" in first and "2 passages" in first and "Another story" not in first
    assert first.index('id="src-5-1"') < first.index('id="src-5-2"')  # by their place in the article
    assert 'id="src-5-3"' in second and "Another story" in second


def test_the_panel_keeps_every_answers_sources_and_shows_the_newest():
    panel = render.sources_panel({"1": "<p>one</p>", "11": "<p>eleven</p>", "3": "<p>three</p>"})
    blocks = panel.split('<div class="nr-answer-sources')[1:]
    assert [b.split('data-answer="')[1].split('"')[0] for b in blocks] == ["1", "3", "11"]
    assert [" nr-hidden" in b.split(">")[0] for b in blocks] == [True, True, False]
    assert render.sources_panel({}) == '<div class="nr-sources"></div>'


def test_the_answerers_left_out_say_what_to_set():
    assert render.providers_note("extractive", {}) == ""
    note = render.providers_note("openai", {"openai": "Set <KEY>", "ollama": "needs [llm] model"})
    assert note.startswith('⚠️ `[llm] provider = "openai"` is not configured')
    assert "- **openai**: Set &lt;KEY&gt;" in note and "- **ollama**: needs [llm] model" in note


def test_an_answer_is_stamped_as_of_its_newest_cited_source():
    supported = AnswerSentence("Repairs cost 14 million tessals.", (1,), "supported")
    older = replace(CITATION, number=2, published=date(2023, 12, 1))
    undated = replace(CITATION, number=3, published=None)
    answer = replace(make([supported]), citations=(older, CITATION, undated))
    assert answer.as_of == date(2024, 1, 15)
    assert render.answer_markdown(answer, 1).endswith("*As of 15 Jan 2024 (the newest source cited).*")
    assert replace(answer, citations=(undated,)).as_of is None and make([], refused=True).as_of is None
    assert "As of" not in render.answer_markdown(make([], refused=True), 1)
