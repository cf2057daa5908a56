"""Guards for small LLMs, over real HTTP: a scripted OpenAI-compatible server on 127.0.0.1 replies with junk
(repeats, leaked fence attributes, no markers, nothing) and the answer stays clean, cited and verified."""

from __future__ import annotations

import pytest

from rag.service import Done, answer, ask
from tests.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.integration

QUESTION = "Which town will host the first Glowfish Festival?"
CLAIM = "Quillhaven will host the first Glowfish Festival"


def settings_for(indexed, llm: ScriptedLLM):
    return indexed.replace(llm={"provider": "openai", "base_url": llm.base_url, "model": "scripted", "timeout": 10.0,
                                "rewrite_followups": False})


def test_repeats_and_leaked_attributes_are_removed(indexed):
    reply = (f'<source id="1" title="Glowfish" outlet="Zorbian Coastal Gazette" date="2024-03-12">Source 1: {CLAIM} [1]. '
             f'{CLAIM} [1]. {CLAIM} [1]. outlet="Zorbian Coastal Gazette" date="2024-03-12"')
    with ScriptedLLM([reply]) as llm:
        result = answer(QUESTION, settings=settings_for(indexed, llm))
        assert llm.requests and llm.requests[0].get("frequency_penalty")  # the backend's repeat penalty is used
    assert not result.refused and not result.fallback
    assert result.text.count("Quillhaven") == 1
    assert "outlet=" not in result.text and "<source" not in result.text and "Source 1" not in result.text
    assert result.sentences[0].verdict == "supported" and result.citations


@pytest.mark.parametrize("reply", [
    "",  # an empty reply
    "The weather in Paris is lovely in spring and the museums are open late on Fridays.",  # no markers, unsupported
    "Bananas are rich in potassium [2]. Bananas are rich in potassium [2]. Bananas are rich in potassium [2].",
])
def test_junk_falls_back_to_the_extractive_answer_and_says_so(indexed, reply):
    with ScriptedLLM([reply]) as llm:
        stream = list(ask(QUESTION, None, None, settings_for(indexed, llm)))
    result = stream[-1].answer if isinstance(stream[-1], Done) else None
    assert result is not None and not result.refused
    assert result.fallback and "not supported" in result.note
    assert "Quillhaven" in result.text and all(s.verdict in ("supported", "attached") for s in result.sentences)
