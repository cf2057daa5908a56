"""Guards for small-model replies (repeats, leaked source fences, label prefixes), the repetition
penalty sent to an OpenAI-compatible endpoint, and the ScriptedLLM test server itself."""

from __future__ import annotations

import json
import urllib.request

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rag.answer.citations import parse_markers
from rag.answer.guards import clean_model_text, mostly_unsupported
from rag.llm import LLAMACPP_REPEAT_PENALTY, OPENAI_FREQUENCY_PENALTY, _llamacpp_chat_class, get_chat_model

from .conftest import make_settings
from .scripted_llm import ScriptedLLM

pytestmark = pytest.mark.unit

CLAIM = "Quillhaven will host the first Glowfish Festival in May"


LOOP = "the mayor said the town would host the festival"


@pytest.mark.parametrize(("reply", "expected"), [
    pytest.param(f"{CLAIM} [1]. {CLAIM} [1]. {CLAIM.lower()} [2]!", f"{CLAIM} [1][2].",
                 id="a sentence repeated three times is kept once with all its markers"),
    pytest.param(f"{CLAIM}, the organisers said [1]. Quillhaven will host the first Glowfish Festival. It opens on May 3 [2].",
                 f"{CLAIM}, the organisers said [1]. It opens on May 3 [2].",
                 id="a repeated sentence contained in an earlier one is dropped"),
    pytest.param(f"{CLAIM}. [1] {CLAIM}. [3]\n\nTickets are free [2].", f"{CLAIM}. [1][3]\n\nTickets are free [2].",
                 id="markers after the full stop stay with their sentence"),
    pytest.param(f"In March {LOOP} {LOOP} {LOOP} {LOOP} [1].", f"In March {LOOP} [1].",
                 id="a phrase looping inside one sentence is cut to one occurrence"),
    pytest.param(f'{CLAIM} outlet="CNN" date="2023-09-05" [1].', f"{CLAIM} [1].",
                 id="leaked outlet and date attributes are removed"),
    pytest.param(f'id="1" title="Glowfish Festival comes to town" outlet="CNN" date="2023-09-05">{CLAIM} [1].',
                 f"{CLAIM} [1].", id="a leaked attribute run opening the reply is removed"),
    pytest.param(f'<source id="1" title="Glowfish Festival" outlet="CNN" date="2023-09-05">\n{CLAIM} [1].\n</source>',
                 f"{CLAIM} [1].", id="full leaked source tags are removed"),
    pytest.param(f'{CLAIM} <source id="2" title="T" outlet="AP" date="2024-01-02"> [2]. It is free </source>.',
                 f"{CLAIM} [2]. It is free.", id="inline leaked source tags are removed"),
])
def test_repeats_and_leaked_markup_are_removed(reply, expected):
    assert clean_model_text(reply) == expected


@pytest.mark.parametrize("prefix", ["Source 1: ", "Source [2]: ", "Passage 3 - ", "Answer: ", "Answer: Source 1: "])
def test_label_prefixes_are_removed_at_the_start_and_on_each_line(prefix):
    reply = f"{prefix}{CLAIM} [1].\n{prefix}Tickets are free [2]."
    assert clean_model_text(reply) == f"{CLAIM} [1].\nTickets are free [2]."


def test_a_prefix_word_inside_a_sentence_is_left_alone():
    reply = "Source 1 says the festival opens in May [1]. The Answer: none yet [2]."
    assert clean_model_text(reply) == reply


def test_every_marker_style_survives_and_still_parses():
    reply = f"{CLAIM} [1]. Tickets are free [2][3]. It runs for a week [Source 4]. Boats leave at dawn (Source 5)."
    cleaned = clean_model_text(reply)
    assert cleaned == reply
    assert [numbers for _, numbers in parse_markers(cleaned)] == [[1], [2, 3], [4], [5]]


@pytest.mark.parametrize("reply", [
    f"{CLAIM} [1]. Tickets are free, organisers said [2].",
    "The indexed articles don't cover this.",
    "- First point about the bill [1].\n  - A nested point [2].\n\nA second paragraph [3].",
    "Mr. Smith, the mayor, said so [1]. He spoke on Aug. 3 [2].",
])
def test_a_clean_answer_is_unchanged(reply):
    assert clean_model_text(reply) == reply


@pytest.mark.parametrize("reply", ["", "   \n\t ", '<source id="1">\n</source>', "Answer:"])
def test_an_empty_or_all_junk_reply_gives_an_empty_string(reply):
    assert clean_model_text(reply) == ""


PIECES = ["Quillhaven hosts it", "the town will host the festival in May ", " ", ". ", "\n", "\n\n", ",", "[1]",
          "[2][3]", "[Source 4]", "(Source 2)", 'outlet="CNN" ', '<source id="1" title="T">', "</source>", "Source 1: ",
          "Answer:", "Mr. "]


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_cleaning_is_idempotent_and_leaves_no_markup(pieces):
    cleaned = clean_model_text("".join(pieces))
    assert clean_model_text(cleaned) == cleaned
    assert "<source" not in cleaned and "</source>" not in cleaned and 'outlet="' not in cleaned


@pytest.mark.parametrize(("verdicts", "expected"), [
    ([], True),
    (["neutral", "neutral"], True),
    (["unsupported", "unsupported", "supported"], True),
    (["unsupported", "supported"], False),
    (["unsupported", "attached", "neutral", "neutral"], False),
    (["supported", "attached", "neutral"], False),
])
def test_mostly_unsupported(verdicts, expected):
    assert mostly_unsupported(verdicts) is expected


def test_scripted_llm_streams_in_chunks_and_answers_plain_requests():
    from langchain_openai import ChatOpenAI

    with ScriptedLLM([f"{CLAIM} [1].", "Second reply."]) as server:
        chat = ChatOpenAI(base_url=server.base_url, api_key="x", model="scripted", max_retries=0)  # type: ignore[arg-type]
        chunks = [str(c.content) for c in chat.stream("Where is the festival?")]
        assert "".join(chunks) == f"{CLAIM} [1]."
        assert len([c for c in chunks if c]) > 3
        assert chat.invoke("again").content == "Second reply."
        assert chat.invoke("and again").content == "Second reply."  # the last reply repeats
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
            assert json.load(response)["data"][0]["id"] == "scripted"
    assert [r.get("stream", False) for r in server.requests] == [True, False, False]
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": "Where is the festival?"}


def test_the_openai_factory_sends_a_frequency_penalty(tmp_path):
    with ScriptedLLM([f"{CLAIM} [1]."]) as server:
        settings = make_settings(tmp_path, llm={"provider": "openai", "base_url": server.base_url, "model": "scripted"})
        chat = get_chat_model(settings).model
        assert "".join(str(c.content) for c in chat.stream("Where is the festival?")) == f"{CLAIM} [1]."
    [request] = server.requests
    assert request["stream"] is True and request["model"] == "scripted"
    assert request["frequency_penalty"] == OPENAI_FREQUENCY_PENALTY


def test_the_llamacpp_chat_model_passes_a_repeat_penalty():
    class FakeLlama:
        def __init__(self) -> None:
            self.calls: list[dict] = []

        def create_chat_completion(self, **kwargs):
            self.calls.append(kwargs)
            return iter([{"choices": [{"delta": {"content": "Quillhaven."}}]}])

    fake = FakeLlama()
    chat = _llamacpp_chat_class()(client=fake)
    assert chat.invoke("Where?").content == "Quillhaven."
    assert fake.calls[0]["repeat_penalty"] == LLAMACPP_REPEAT_PENALTY > 1.0


@pytest.mark.unit
def test_a_system_prompt_is_folded_into_the_first_user_turn():
    from rag.llm import fold_system

    system, user, assistant = ({"role": r, "content": c} for r, c in (("system", "Rules."), ("user", "Q1"), ("assistant", "A1")))
    assert fold_system([system, user, assistant, {"role": "user", "content": "Q2"}]) == [
        {"role": "user", "content": "Rules.\n\nQ1"}, assistant, {"role": "user", "content": "Q2"}]
    assert fold_system([user]) == [user] and fold_system([system]) == [{"role": "user", "content": "Rules."}]
    assert system["content"] == "Rules." and user["content"] == "Q1"  # the caller's messages are not changed
