"""Corroboration ("reported by N outlets") and disagreements: hand-made passages with the fake embedder (unit), and
four outlets indexed with the real model, read through the service and rag.outputs (integration)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from rag.answer.citations import citation_for
from rag.answer.corroborate import corroborate, figures
from rag.schema import AnswerSentence, Hit, Passage, Support
from tests.fakes import FakeEmbedder

FACT = "Officials in Kestria said Storm Ardent destroyed 1,200 homes across the province on Monday."
THRESHOLD = 0.6  # [retrieve] duplicate_threshold


def hit(n: int, text: str, outlet: str, url: str = "", day: int = 4, article: str = "") -> Hit:
    passage = Passage(f"c{n}", article or f"a{n}", text, f"Title {n}", outlet, url or f"https://x{n}.example/storm",
                      date(2023, 9, day), 0, len(text))
    return Hit(passage, 1.0 / n)


def run(cited: Hit, *others: Hit, quote: str = FACT, also: tuple[str, ...] = ()):
    """Corroboration of ``quote`` (a sentence of ``cited``, source [1]) among ``others``."""
    citation = replace(citation_for(cited, 1), also_reported=also)
    support = Support(1, quote, 0, len(quote), 0.9, 1.0)
    sentence = AnswerSentence(quote, (1,), "supported", (support,))
    embed = FakeEmbedder().embed_documents
    return corroborate([sentence], [citation], [cited, *others], embed, THRESHOLD)


@pytest.mark.unit
@pytest.mark.parametrize(("sentence", "expected"), [
    ("The war has caused 300,000 casualties.", [("300,000", "casualty", 300000.0)]),
    ("Nearly 250,000 casualties were reported by Sept. 1, 2023.", [("Nearly 250,000", "casualty", 250000.0),
                                                                     ("2023", "", 2023.0)]),
    ("The company lost $2.5 billion in aid.", [("$2.5 billion", "", 2.5e9)]),
    ("About 300,000 Russian troops died.", [("About 300,000", "troop", 300000.0)]),
    ("All 94 Oscar best picture winners, ranked.", [("94", "picture", 94.0)]),
    ("On 5 September, 12 people died.", [("12", "people", 12.0)]),
    ("He won his 10th straight race in the 38th lap.", []),  # ordinals count nothing
    ("Among 2015-19 vehicles, Covid-19 cases and 5G masts, $3bn was spent.", [("$3bn", "", 3e9)]),
])
def test_figures_read_value_noun_and_qualifier(sentence, expected):
    assert [(f.text, f.noun, f.value) for f in figures(sentence)] == expected


@pytest.mark.unit
def test_outlets_count_independent_reports_once_each():
    cited = hit(1, f"{FACT} Rescue teams searched flooded villages.", "Alpha News")
    paraphrase = "Storm Ardent destroyed 1,200 homes across the province, officials in Kestria said on Monday."
    found = run(
        cited,
        hit(2, f"{paraphrase} Schools stay shut.", "Beta Post"),
        hit(3, f"{paraphrase} Schools stay shut.", "Yahoo News"),  # a syndicated copy of Beta Post's passage
        hit(4, "Kestria officials said on Monday that Storm Ardent destroyed 1,200 homes across the province. "
               "Rain is due.", "Gamma Times"),
        hit(5, f"{paraphrase} More later.", "beta post", article="a5"),  # Beta Post's other article: one outlet
        hit(6, f"{FACT} Rescue teams searched flooded villages.", "Echo Wire"),  # the citation's own copy
        hit(7, "Officials in Kestria said Storm Ardent destroyed 1,500 homes across the province on Monday.",
            "Delta Daily"),  # another number: not the same fact
        hit(8, "Officials in Kestria said the harvest festival drew crowds across the province.", "Foxtrot FM"),
        also=("Echo Wire",),
    )
    assert found.outlets == {1: ("Alpha News", "Beta Post", "Gamma Times")}


@pytest.mark.unit
def test_an_outlet_known_only_by_its_url_is_named_by_it():
    cited = hit(1, FACT, "", url="https://www.cnn.com/2023/09/04/storm")
    found = run(cited, hit(2, "Kestria officials said on Monday that Storm Ardent destroyed 1,200 homes across the "
                              "province.", "CNN"),  # CNN's other article: CNN counts once
                hit(3, "Storm Ardent destroyed 1,200 homes across the province, officials in Kestria said on Monday.",
                    "Reuters"))
    assert found.outlets == {1: ("CNN", "Reuters")}


@pytest.mark.unit
def test_a_different_figure_for_the_same_thing_is_a_disagreement():
    cited = hit(1, FACT, "Alpha News", day=5)
    other = "Officials in Kestria said Storm Ardent destroyed nearly 900 homes across the province on Monday."
    found = run(cited, hit(2, other, "Delta Daily", day=1))
    assert found.outlets == {1: ("Alpha News",)}
    (disagreement,) = found.disagreements
    assert disagreement.noun == "homes"
    assert [(v.text, v.outlet, v.published, v.citation) for v in disagreement.values] == [
        ("1,200", "Alpha News", date(2023, 9, 5), 1), ("nearly 900", "Delta Daily", date(2023, 9, 1), 0)]


@pytest.mark.unit
@pytest.mark.parametrize(("fact", "other"), [
    # ranges that overlap: "more than 1,000" holds 1,200; "about 1,150" reaches 1,200 within a tenth
    ("Officials in Kestria said Storm Ardent destroyed more than 1,000 homes across the province on Monday.",
     "Officials in Kestria said Storm Ardent destroyed 1,200 homes across the province on Monday."),
    ("Officials in Kestria said Storm Ardent destroyed about 1,150 homes across the province on Monday.",
     "Officials in Kestria said Storm Ardent destroyed 1,200 homes across the province on Monday."),
    # different counted things
    ("Officials in Kestria said Storm Ardent destroyed 1,200 homes across the province on Monday.",
     "Officials in Kestria said Storm Ardent destroyed 900 bridges across the province on Monday."),
    # a generic noun after different verbs
    ("Officials in Kestria said Storm Ardent killed 20 people across the province on Monday.",
     "Officials in Kestria said Storm Ardent injured 50 people across the province on Monday."),
    # one sentence holds both values: a change told, not a disagreement
    ("Officials in Kestria said Storm Ardent destroyed 1,200 homes across the province on Monday.",
     "Officials in Kestria said Storm Ardent destroyed 1,200 homes, up from 900 homes on Sunday."),
    # another subject: no name in common
    ("Officials in Kestria said Storm Ardent destroyed 1,200 homes across the province on Monday.",
     "Officials in Velmora said Hurricane Bram destroyed 900 homes across the province on Monday."),
    # "94 best picture winners" counts winners, not "best"
    ("Officials in Kestria said all 94 best picture winners were honoured across the province on Monday.",
     "Officials in Kestria said all 93 best actress winners were honoured across the province on Monday."),
    # "new" moons are not all the moons
    ("Officials in Kestria said the discovery gives Jupiter 92 total moons across the solar system on Monday.",
     "Officials in Kestria said the discovery gives Jupiter 12 new moons across the solar system on Monday."),
    # the same noun in sentences about different things (low similarity)
    ("Officials in Kestria said Storm Ardent destroyed 1,200 homes across the province on Monday.",
     "Kestria builders finished 900 homes for sale near the new airport last year, an estate agent reported."),
])
def test_near_misses_are_not_disagreements(fact, other):
    found = run(hit(1, fact, "Alpha News"), hit(2, other, "Delta Daily"), quote=fact)
    assert found.disagreements == ()


@pytest.mark.unit
def test_figures_published_further_apart_than_the_story_window_do_not_disagree():
    other = "Officials in Kestria said Storm Ardent destroyed nearly 900 homes across the province on Monday."
    a_year_before = hit(2, other, "Delta Daily")
    a_year_before = Hit(replace(a_year_before.passage, published=date(2022, 9, 4)), 0.5)
    assert run(hit(1, FACT, "Alpha News"), a_year_before).disagreements == ()


@pytest.mark.integration
def test_three_outlets_agree_and_one_differs_through_the_service(tmp_path, embedder):
    from ingest.index import ingest_paths
    from rag.outputs import answer_markdown, answer_out
    from rag.schema import answer_from_data
    from rag.service import answer, answer_dict
    from tests.conftest import make_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    stories = {
        "Alpha News": ("2023-09-04", "Storm Ardent destroyed 1,200 homes in the Kestria province, the regional "
                       "governor said on Monday. Rescue teams were still searching flooded villages near the river Oll."),
        "Beta Post": ("2023-09-04", "The regional governor of Kestria said Storm Ardent destroyed 1,200 homes across "
                      "the province. Schools in the capital, Vantor, will stay shut until Friday."),
        "Gamma Times": ("2023-09-05", "Storm Ardent destroyed 1,200 homes in Kestria over the weekend, officials of "
                        "the province said. The national weather office warned of more rain on Wednesday."),
        "Delta Daily": ("2023-09-01", "Storm Ardent destroyed nearly 900 homes in the Kestria province, according to "
                        "early estimates from the regional governor. Power was cut to households along the coast."),
    }
    for i, (outlet, (day, text)) in enumerate(stories.items()):
        (folder / f"{i}.json").write_text(json.dumps({"title": f"Storm Ardent hits Kestria ({outlet})", "text": text,
                                                      "url": f"https://{i}.example/storm", "source": outlet,
                                                      "published": day}))
    settings = make_settings(tmp_path, folder)
    ingest_paths([folder], settings, embedder=embedder)

    result = answer("How many homes did Storm Ardent destroy in Kestria?", settings=settings)
    agreeing = {"Alpha News", "Beta Post", "Gamma Times"}
    by_figure = [c for c in result.citations if "1,200" in c.passage]
    assert by_figure and all(set(c.outlets) == agreeing and c.outlets[0] == c.outlet for c in by_figure)
    assert all(c.outlets == ("Delta Daily",) for c in result.citations if "nearly 900" in c.passage)
    (disagreement,) = result.disagreements
    assert disagreement.noun == "homes"
    values = {v.text: v for v in disagreement.values}
    assert set(values) == {"1,200", "nearly 900"}
    assert values["nearly 900"].outlet == "Delta Daily" and values["nearly 900"].published == date(2023, 9, 1)
    assert values["1,200"].outlet in agreeing

    out = answer_out(result)
    assert [c.outlets for c in out.citations] == [list(c.outlets) for c in result.citations]
    assert [v.text for v in out.disagreements[0].values] == [v.text for v in disagreement.values]
    data = answer_dict(result)
    assert data["disagreements"][0]["noun"] == "homes"
    assert [c["outlets"] for c in data["citations"]] == [list(c.outlets) for c in result.citations]
    assert answer_from_data(json.loads(json.dumps(data))).disagreements == result.disagreements
    assert "Sources differ on homes: " in answer_markdown(result) and "(Delta Daily, 1 Sept 2023)" in answer_markdown(result)


@pytest.mark.unit
def test_the_ui_and_the_cli_show_outlets_and_disagreements():
    from rag.cli import format_answer
    from rag.schema import Answer, Disagreement, FigureValue
    from ui import render

    cited = hit(1, FACT, "Alpha News")
    citation = replace(citation_for(cited, 1), outlets=("Alpha News", "Beta Post", "Gamma Times"))
    sentence = AnswerSentence(FACT, (1,), "supported", (Support(1, FACT, 0, len(FACT), 0.9, 1.0),))
    differ = Disagreement("homes", (FigureValue("1,200", "Alpha News", date(2023, 9, 5), 1, FACT),
                                   FigureValue("nearly 900", "Delta Daily", date(2023, 9, 1), 0, "...")))
    result = Answer("q", "q", FACT, (sentence,), (citation,), disagreements=(differ,))
    shown = render.answer_markdown(result, 1)
    assert "(reported by 3 outlets: Alpha News, Beta Post, Gamma Times)" in shown
    line = "Sources differ on homes: 1,200 (Alpha News, 5 Sept 2023) [1] vs nearly 900 (Delta Daily, 1 Sept 2023)"
    assert line in shown
    assert "reported by 3 outlets: Alpha News, Beta Post, Gamma Times" in render.sources_html(result, 1)
    text = format_answer(result)
    assert "    reported by 3 outlets: Alpha News, Beta Post, Gamma Times" in text and line in text
    single = replace(result, citations=(replace(citation, outlets=("Alpha News",)),), disagreements=())
    assert "reported by" not in render.answer_markdown(single, 1)  # one outlet: said on its card only
    assert "reported by 1 outlet: Alpha News" in render.sources_html(single, 1)
