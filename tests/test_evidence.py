"""Refusal evidence and answer-first extraction, as pure functions (a fake corpus, no model, no index)."""

from __future__ import annotations

from datetime import date

import pytest

from rag.answer.evidence import found, named_terms, other_year, question_years, refusal, speaks_of, weigh
from rag.answer.extractive import Candidate, lead_span, question_kind, spans_of
from rag.config import AnswerSettings
from rag.schema import Hit, Passage, Refusal

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("question", "terms"), [
    ("Who won the 2023 Tour de France?", ["2023 Tour de France"]),
    ("What did Xi Jinping say about the Kim-Putin meeting?", ["Xi Jinping", "Kim-Putin"]),
    ("Where does Patrick Cronin work?", ["Patrick Cronin"]),
    ("Besides weapons talks, what does Kim want?", ["Kim"]),  # a sentence's first word is not a name
    ("Kim Jong Un met whom?", ["Kim Jong Un"]),
    ("What is the half-life of carbon-14 and of COVID-19?", ["carbon-14", "COVID-19"]),
    ("What happened in September on Monday?", []),  # months and weekdays are dates, not names
    ("Which athlete wore new \"super shoes\" in Berlin?", ["super shoes", "Berlin"][1:]),
    ("Labour and the Tories are neck and neck", ["Tories"]),
])
def test_named_terms(question, terms):
    assert named_terms(question) == terms


def test_found_whole_apart_by_pair_or_by_a_rare_surname():
    passages = [" putin said kim jong un arrived patrick j cronin said at the hudson institute tory mp lee anderson "]
    assert found("Kim Jong Un", passages)
    assert found("Patrick Cronin", passages)  # its words apart in one passage
    assert found("Tory MP Lee Anderson", passages) and found("Chancellor Lee Anderson Statement", passages)
    assert not found("Tour de France", [" the tour of france "])  # a phrase with a connector must be whole
    assert found("Eric Cantona", [" cantona sang "], rare=lambda w: w == "cantona")
    assert not found("Eric Cantona", [" cantona sang "])


def test_a_name_with_a_word_the_corpus_never_uses_is_not_found_by_its_other_words():
    passages = [" michelangelo restored the chapel ceiling at the winter olympics in 2026 world cup final "]
    known = {"chapel", "winter", "olympics", "2026", "world", "cup", "boris", "johnson", "era"}.__contains__
    assert not found("Sistine Chapel", passages, rare=lambda w: True, known=lambda t: all(
        known(w) for w in t.lower().split()))  # "Chapel" alone is no evidence of the Sistine Chapel
    assert not found("2026 Milan Cortina Winter Olympics", passages,
                     known=lambda t: all(known(w) for w in t.lower().split()))
    assert found("Boris Johnson-era", [" the boris johnson government "],
                 known=lambda t: all(known(w) for w in t.lower().replace("-", " ").split()))


def test_an_identifier_is_found_whole_only():
    assert not found("carbon-14", [" carbon dating of 14 samples "])
    assert found("carbon-14", [" the half life of carbon 14 is long "])  # passages are normalised: "carbon-14"
    assert found("Kim-Putin", [" putin met kim "])  # names joined by a hyphen may stand apart


def test_a_long_name_is_found_by_a_pair_only_when_the_pair_holds_its_rarest_word():
    counts = {"hundred": 80, "years": 1255, "solitude": 4, "rugby": 1, "world": 349, "cup": 47, "2027": 2,
              "lee": 30, "anderson": 5, "tory": 12, "mp": 40}
    passages = [" for a hundred years the world cup has run tory mp lee anderson said "]
    assert not found("Hundred Years of Solitude", passages, count=counts.__getitem__)
    assert not found("2027 Rugby World Cup", passages, count=counts.__getitem__)
    assert found("2027 Rugby World Cup", passages)  # without counts any pair counts, as before
    assert found("Tory MP Lee Anderson", passages, count=counts.__getitem__)


def test_a_missing_edition_of_an_unknown_event_is_refused_though_its_year_is_common():
    declined = refusal("Who won the 2023 Wimbledon women's singles title?", [hit("Russia won in 2023.", 0.5)],
                       SETTINGS, FakeCorpus({"won", "women", "singles", "title", "russia"}))
    assert declined is not None and declined.kind == "missing_terms" and "2023 Wimbledon" in declined.missing


class FakeCorpus:
    def __init__(self, words: set[str], passages: list[str] = ()) -> None:
        self.words, self.passages = words, list(passages)

    def knows(self, word: str) -> bool:
        return word.lower() in self.words

    def frequency(self, word: str) -> tuple[int, int]:
        return (1 if word in self.words else 0), 1000

    def passages_with(self, text: str) -> list[str]:
        return self.passages


def hit(text: str, dense: float) -> Hit:
    return Hit(Passage("c1", "a1", text, "Title", "Outlet", "", date(2023, 9, 5), 0, len(text)), 1.0, dense=dense)


CORPUS = FakeCorpus({"putin", "kim", "russia", "artillery", "rounds", "fired", "ukraine", "cronin", "patrick", "work",
                     "tour", "france", "won", "summit", "germany"})
SETTINGS = AnswerSettings()


def test_a_question_whose_subject_appears_nowhere_is_refused_at_any_similarity():
    declined = refusal("Who won the 2023 Tour de France?", [hit("Putin fired artillery in Ukraine.", 0.9)], SETTINGS,
                       CORPUS)
    assert isinstance(declined, Refusal) and declined.kind == "missing_terms" and declined.missing
    person = refusal("What did Sauli Niinisto say about Putin?", [hit("Putin spoke at the summit.", 0.8)], SETTINGS,
                     CORPUS)
    assert person is not None and "Sauli Niinisto" in person.missing  # a missing person is decisive alone


def test_a_rare_person_the_passages_name_is_answered_even_at_low_similarity():
    passages = [hit("Patrick Cronin, the Asia-Pacific security chair at the Hudson Institute, said so.", 0.16)]
    assert refusal("Where does Patrick Cronin work?", passages, SETTINGS, CORPUS) is None
    assert weigh("Where does Patrick Cronin work?", passages, CORPUS).specific


def test_unknown_words_and_low_similarity_refuse():
    cooking = refusal("What is an easy tiramisu recipe?", [hit("Putin fired artillery.", 0.5)], SETTINGS, CORPUS)
    assert cooking is not None and "tiramisu" in cooking.missing
    vague = refusal("Has Putin fired artillery at Russia?", [hit("Putin fired artillery at Russia.", 0.1)], SETTINGS,
                    CORPUS)
    assert vague is not None and vague.kind == "low_similarity"
    assert refusal("How many artillery rounds has Russia fired?", [], SETTINGS, CORPUS).kind == "no_passage"


@pytest.mark.parametrize(("question", "kind"), [
    ("How many artillery rounds has Russia fired?", "number"),
    ("When did Kim last meet Putin?", "date"),
    ("Who interviewed Hertling?", "person"),
    ("Which national leader criticised the UN?", "person"),
    ("Where were Kim and Putin expected to meet?", "place"),
    ("Where does Patrick Cronin work?", "employer"),
    ("Which car company criticised the ban?", "name"),
    ("Why is Putin desperate?", "other"),
    ("Which city hosted the summit?", "place"),
    ("Which country won?", "place"),
    ("Which Russian state media outlet reported Peskov's comments?", "name"),  # "state" only qualifies "outlet"
    ("Which state officials said so?", "person"),
])
def test_question_kind(question, kind):
    assert question_kind(question) == kind


def lead(question: str, sentence: str) -> str:
    return lead_span(Candidate(0, 0, sentence, 1.0, tuple(spans_of(question_kind(question), sentence, question))),
                     question)


def test_the_lead_is_the_shortest_answering_span_near_the_question_words():
    sentence = ("By one account, Russia has spent more than seven million rounds of artillery in its fight in Ukraine "
                "this year alone, though it is only able to produce about two and a half million rounds.")
    assert lead("How many artillery rounds has Russia fired in Ukraine this year?", sentence) == \
        "more than seven million rounds"
    cronin = "He is running out of options, according to Patrick Cronin, the security chair at the Hudson Institute."
    assert lead("Where does Patrick Cronin work?", cronin) == "Hudson Institute"
    assert lead("When did they last meet?", "They last met in April 2019 in Vladivostok.") == "April 2019"
    assert lead("Why is Putin desperate?", "Putin is desperate because he lost tanks.") == ""
    glowfish = "The ministry said that the harbour town of Quillhaven will host the first Glowfish Festival in June."
    assert lead("Which town will host the first Glowfish Festival?", glowfish) == "Quillhaven"  # "in June" is no place


def test_a_count_is_a_whole_number_and_never_a_year_used_as_a_date():
    def numbers(sentence: str) -> list[str]:
        return [sentence[a:b] for a, b in spans_of("number", sentence, "How many months?")]

    assert numbers("Operations will continue into late 2023 and in 2024, with 2000 troops.") == ["2000"]
    assert numbers("As the counteroffensive enters its fourth month, forces are strained.") == ["fourth"]  # not "four"
    assert numbers("The town will host the first Glowfish Festival, for 40,000 visitors.") == ["40,000"]  # an order
    assert numbers("A third of them won for a second straight year.") == ["third", "second"]  # a share, a count
    assert numbers("It cost $5bn, about 300,000, 1,200,000.50 and 12.5%.") == ["$5bn", "about 300,000", "1,200,000.50",
                                                                             "12.5%"]


def test_a_year_that_has_begun_is_answered_only_from_passages_that_can_speak_of_it():
    today = date(2023, 10, 15)
    assert question_years("Who won the 2023 Nobel Prize in Literature?", today) == (2023,)
    assert question_years("Who will be obese by 2035, and what is the 2030 ban?", today) == ()  # forecasts
    assert question_years("What is COVID-19's toll in the 2023-24 season?", today) == ()  # not years on their own

    def dated(text: str, day: date | None) -> Hit:
        return Hit(Passage("c1", "a1", text, "Nobel", "Outlet", "", day, 0, len(text)), 1.0)

    ernaux = dated("French author Annie Ernaux won this year's Nobel Prize in literature.", date(2022, 10, 6))
    assert not speaks_of(ernaux, (2023,))  # a 2022 article cannot say who won in 2023
    assert speaks_of(dated("The 2023 laureate will be named in October.", date(2022, 12, 1)), (2023,))  # names it
    assert speaks_of(dated("Jon Fosse won this year's prize.", date(2023, 10, 5)), (2023,))
    assert speaks_of(dated("Jon Fosse won this year's prize.", None), (2023,))  # an unknown date is not held against it
    declined = other_year((2023,), [ernaux])
    assert declined.kind == "other_year" and "2023" in declined.reason and "2022-10-06" in declined.reason
