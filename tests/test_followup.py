"""Follow-up detection and rewriting (pure): standalone questions stay as asked, follow-ups borrow the topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rag.followup import heuristic_rewrite, looks_like_followup, normalize_history, rewrite

pytestmark = pytest.mark.unit

KIM = [("user", "Why is Putin meeting Kim Jong Un?"),
       ("assistant", "Putin wants artillery shells and Kim Jong Un wants satellite technology [1].")]
BLINKEN = [("user", "What did Antony Blinken say about Russia?"),
           ("assistant", "Blinken said an arms deal would violate UN resolutions [1].")]
NOBEL = [("user", "Who won the Nobel Peace Prize?"),
         ("assistant", "Maria Ressa and Dmitry Muratov won the prize [1].")]
GRAND_PRIX = [("user", "Who won the Singapore Grand Prix?"),
              ("assistant", "Carlos Sainz won for Ferrari [1].")]
BRIDGE = [("user", "What happened to the harbour bridge in Port Tessaly?"),
          ("assistant", "It reopened after eight months of repairs [1].")]
CUBA = [("user", "How many people were arrested in Cuba?"), ("assistant", "Police detained 17 people [1].")]

CASES = [
    # standalone: names its own subject, even after "and" or with an expletive "it"
    (KIM, "Who won the Singapore Grand Prix?", False, []),
    (KIM, "What did Antony Blinken say about North Korea?", False, []),
    (KIM, "How many people were arrested in Cuba?", False, []),
    (GRAND_PRIX, "Why is Putin meeting Kim Jong Un?", False, []),
    (KIM, "What is it like in Vladivostok in September?", False, []),
    (KIM, "And who won the Tour de France?", False, []),
    (KIM, "What did Blinken say about his trip to Seoul?", False, []),
    (KIM, "What did the US say about the deal?", False, []),
    (KIM, "What happened in 2019?", False, []),
    (KIM, "What is the inflation rate in the euro zone?", False, []),
    (KIM, 'Who coined the phrase "axis of upheaval"?', False, []),
    (NOBEL, "Which town will host the first Glowfish Festival in Zorbia this June?", False, []),
    # follow-ups: a pronoun or an ellipsis with no subject of its own
    (KIM, "What did he say about that?", True, ["Kim Jong Un", "Putin"]),
    (NOBEL, "Where does she work?", True, ["Maria Ressa", "Nobel"]),
    (KIM, "Why?", True, ["Putin", "Kim Jong Un"]),
    (KIM, "And the casualties?", True, ["casualties", "Putin", "Kim"]),
    (CUBA, "How many of them died?", True, ["died", "arrested", "Cuba"]),
    (BLINKEN, "What about North Korea?", True, ["North Korea", "Antony Blinken"]),
    (KIM, "When did it happen?", True, ["happen", "Putin", "Kim"]),
    (BLINKEN, "Who said that?", True, ["Antony Blinken", "Russia"]),
    (NOBEL, "his employer?", True, ["Maria Ressa's employer", "Nobel Peace Prize"]),
    (GRAND_PRIX, "How old is he?", True, ["Carlos Sainz", "Singapore Grand Prix"]),
    (BRIDGE, "How much did the repairs cost?", True, ["repairs", "Port Tessaly", "harbour bridge"]),
    (KIM, "And what did the State Department say?", True, ["State Department", "Putin", "Kim"]),
    (KIM, "What else did they agree?", True, ["agree", "Putin", "Kim"]),
    (NOBEL, "What is her background?", True, ["Maria Ressa's background"]),
    (GRAND_PRIX, "So who came second?", True, ["second", "Singapore Grand Prix"]),
]


@pytest.mark.parametrize(("history", "question", "rewritten", "words"), CASES)
def test_rewrite_only_what_cannot_stand_alone(history, question, rewritten, words):
    turns = normalize_history(history)
    assert looks_like_followup(question) is rewritten
    query = heuristic_rewrite(question, turns)
    assert rewrite(question, turns) == query
    if not rewritten:
        assert query == question
        return
    assert query != question
    for word in words:
        assert word in query


@pytest.mark.parametrize(
    ("conversation", "question", "must_not"),
    [
        # Kim and Putin, then sports: nothing of the summit leaks into the new topic
        ([*KIM, ("user", "What did he say about that?"), ("assistant", "He praised the talks [2].")],
         "Who won the Singapore Grand Prix?", ["Kim", "Putin"]),
        # a new named subject after "and" starts a new topic too
        ([*GRAND_PRIX, ("user", "How old is he?"), ("assistant", "He is 29 [1].")],
         "And who won the Tour de France?", ["Sainz", "Singapore"]),
        # after the switch, a follow-up borrows the new topic, not the old one
        ([*KIM, *GRAND_PRIX], "How old is he?", ["Kim", "Putin"]),
        ([*KIM, *CUBA], "How many of them died?", ["Kim", "Putin"]),
        ([*BLINKEN, *NOBEL], "Where does she work?", ["Blinken", "Russia"]),
    ],
)
def test_a_new_topic_drops_the_old_one(conversation, question, must_not):
    query = heuristic_rewrite(question, normalize_history(conversation))
    for word in must_not:
        assert word not in query


def test_a_chain_of_follow_ups_keeps_the_topic():
    turns = normalize_history([*KIM, ("user", "Why?"), ("assistant", "To buy shells [1]."),
                               ("user", "And the casualties?"), ("assistant", "Not reported [2].")])
    query = heuristic_rewrite("How many of them died?", turns)
    assert "Putin" in query and "Kim Jong Un" in query and "casualties" in query


def test_no_history_or_no_user_turn_leaves_the_question_alone():
    assert rewrite("Why?", []) == "Why?"
    assert heuristic_rewrite("Why?", [("assistant", "Hello, ask me about the news.")]) == "Why?"


def test_gradio_pairs_and_messages_normalise_to_turns():
    assert normalize_history([("hi", "hello"), ("user", "q")]) == [("user", "hi"), ("assistant", "hello"), ("user", "q")]
    assert normalize_history([{"role": "user", "content": [{"text": "a"}, "b"]}, {"role": "assistant", "content": ""}]) \
        == [("user", "a b")]


@dataclass
class Reply:
    content: str


@dataclass
class FakeModel:
    answer: str = "What did Kim Jong Un say about the arms deal with Putin?"
    calls: list[Any] = field(default_factory=list)

    def invoke(self, messages: list[Any]) -> Reply:
        self.calls.append(messages)
        return Reply(self.answer)


@dataclass
class FakeChat:
    model: Any = field(default_factory=FakeModel)


def test_the_llm_condenses_follow_ups_only():
    chat = FakeChat()
    turns = normalize_history(KIM)
    for question in ("Who won the Singapore Grand Prix?", "And who won the Tour de France?",
                     "What is it like in Vladivostok in September?"):
        assert rewrite(question, turns, chat) == question
    assert chat.model.calls == []
    assert rewrite("What did he say about that?", turns, chat) == chat.model.answer
    assert len(chat.model.calls) == 1
    assert "What did he say about that?" in str(chat.model.calls[0][-1].content)


def test_a_failed_or_empty_llm_rewrite_falls_back_to_the_heuristic():
    class Broken:
        def invoke(self, messages: list[Any]) -> Reply:
            raise RuntimeError("server went away")

    turns = normalize_history(KIM)
    expected = heuristic_rewrite("Why?", turns)
    assert rewrite("Why?", turns, FakeChat(FakeModel(answer=""))) == expected
    assert rewrite("Why?", turns, FakeChat(Broken())) == expected
