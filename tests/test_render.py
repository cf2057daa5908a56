"""How answers look: markers link to sources, unsupported sentences and refusals are marked (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest

from rag.schema import Answer, AnswerSentence, ArticleReport, Citation, IngestReport, Refusal, Support
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
    text = render.answer_markdown(make([supported, unsupported], complete=False, note="Only 3 of 5 passages fit."))
    assert "Repairs cost 14 million tessals. [[1]](#src-1)" in text
    assert "⚠️ *The mayor resigned.* (not supported by the sources)" in text
    assert "incomplete" in text and "Only 3 of 5 passages fit." in text


def test_refusal_reads_as_information():
    text = render.answer_markdown(make([], refused=True))
    assert text.startswith("ℹ️ ") and "⚠️" not in text
    assert "nr-empty" in render.sources_html(make([], refused=True))


def test_sources_panel_highlights_the_supporting_sentence_and_escapes_html():
    support = Support(1, "The bridge reopened on Monday.", 100, 130, 0.9, 1.0)
    sentence = AnswerSentence("It reopened.", (1,), "supported", (support,))
    html = render.sources_html(make([sentence]))
    assert 'id="src-1"' in html and "<mark>The bridge reopened on Monday.</mark>" in html
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
