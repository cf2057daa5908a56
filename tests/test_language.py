"""A question in another language than the articles is told so, not answered with unrelated citations
(issue 15, item 15); a corpus that holds articles in the question's language answers it."""

from __future__ import annotations

import shutil

import pytest

from rag.answer.language import identify, name
from rag.service import answer

from .conftest import ARTICLES, make_settings

FOREIGN = [
    ("Welche Stadt richtet das erste Glühfisch-Festival aus, und wann beginnt es?", "German"),
    ("Quelle ville accueillera le premier festival des poissons lumineux cette année ?", "French"),
    ("¿Qué ciudad será la sede del primer festival de peces luminosos este año?", "Spanish"),
    ("Какой город примет первый фестиваль светящихся рыб?", "Russian"),
    ("哪个城市将举办第一届荧光鱼节？", "Chinese"),
]
GERMAN_ARTICLE = """Neue Fähre verbindet Brückenstadt und Seehafen

Die Gemeinde Brückenstadt hat am Montag eine elektrische Fähre in Betrieb genommen. Die Fähre fährt
stündlich zwischen dem Marktplatz und dem Seehafen und befördert bis zu achtzig Fahrgäste. Der
Bürgermeister Anton Kessler sagte, die Fähre ersetze zwei alte Dieselschiffe und spare jährlich
zweihunderttausend Liter Treibstoff. Die Fahrkarten kosten drei Euro für Erwachsene.
"""


@pytest.mark.unit
def test_identify_and_name():
    assert identify("Which town will host the first Glowfish Festival this year?")[0] == "en"
    assert identify(FOREIGN[0][0])[0] == "de"
    assert name("de") == "German" and "xx" in name("xx")


@pytest.mark.integration
@pytest.mark.parametrize(("question", "language"), FOREIGN)
def test_a_question_in_another_language_is_told_so(indexed, question, language):
    result = answer(question, settings=indexed)
    assert result.refused and result.refusal is not None
    assert result.refusal.kind == "language", result.refusal.reason
    assert language in result.refusal.reason and "English" in result.refusal.reason
    assert not result.citations


@pytest.mark.integration
@pytest.mark.parametrize("question", ["Which town will host the first Glowfish Festival?",
                                      "What did the mayor say about the Glowfish Festival?", "Who is Anton Kessler?"])
def test_english_questions_and_names_are_not_taken_for_another_language(indexed, question):
    result = answer(question, settings=indexed)
    assert result.refusal is None or result.refusal.kind != "language", result.refusal


@pytest.mark.integration
def test_a_corpus_with_articles_in_the_questions_language_answers_it(tmp_path, embedder):
    from ingest.index import ingest_paths

    folder = tmp_path / "articles"
    shutil.copytree(ARTICLES, folder)
    (folder / "faehre.txt").write_text(GERMAN_ARTICLE, encoding="utf-8")
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)
    result = answer("Wie viele Fahrgäste befördert die neue elektrische Fähre?", settings=settings)
    assert not result.refused, result.refusal
    assert any(c.source.endswith("faehre.txt") for c in result.citations)
    assert "achtzig" in result.text
