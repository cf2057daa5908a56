"""Sentences of an article that read as instructions to an assistant ("Ignore previous instructions and ...").

An article is data. A sentence that addresses the assistant reading it is never quoted as news:
* the extractive answerer skips it;
* the LLM prompt withholds it (the passage keeps a marker in its place), so the fence around
  article text is not the only defence;
* the citation verifier never counts it as support, so a model that repeats it anyway gets an
  unsupported sentence, not a cited one;
* the source view marks it.
The patterns are the phrasings prompt injections use (overriding earlier instructions, addressing
"the assistant"/"the AI", a new system prompt or role). A news sentence that quotes such a phrase is
withheld too: that costs a quote, never a fact the rest of the passage states.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.text import sentence_spans

WITHHELD = "[withheld: a sentence that reads as an instruction to an assistant]"
_PATTERNS = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|the\s+|your\s+|my\s+)*"
    r"(?:previous|prior|earlier|above|preceding|former|system|original)\s+(?:instructions?|prompts?|rules?|"
    r"directions?|messages?|guidelines?|context)"
    r"|\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions\s*:"
    r"|\byou\s+are\s+(?:now\s+)?(?:an?\s+)?(?:ai|assistant|chatbot|language\s+model|llm|dan)\b"
    r"|\b(?:dear|attention,?|hey)\s+(?:ai|assistant|chatbot|language\s+model|llm)\b"
    r"|\bas\s+an?\s+(?:ai|language\s+model|llm)\b"
    r"|\b(?:ai|assistant|chatbot|language\s+model|llm)s?\s*(?:reading|processing|summari[sz]ing)\s+this\b"
    r"|\b(?:respond|reply|answer)\s+(?:only\s+)?with\s+(?:the\s+)?(?:word|phrase|text)\b"
    r"|\bdo\s+not\s+(?:tell|reveal\s+to|inform)\s+the\s+user\b",
    re.IGNORECASE,
)


def instructs(sentence: str) -> bool:
    """``sentence`` addresses an assistant or tries to override its instructions."""
    return bool(_PATTERNS.search(sentence))


def instruction_spans(text: str) -> Iterator[tuple[int, int]]:
    """The (start, end) of each sentence of ``text`` that :func:`instructs`."""
    for start, end in sentence_spans(text):
        if instructs(text[start:end]):
            yield start, end


def withhold(text: str) -> str:
    """``text`` with each instructing sentence replaced by :data:`WITHHELD`."""
    out, cursor = [], 0
    for start, end in instruction_spans(text):
        out += [text[cursor:start], WITHHELD]
        cursor = end
    return "".join(out) + text[cursor:]
