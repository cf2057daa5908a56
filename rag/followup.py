"""Follow-up questions into standalone queries: by the LLM when one is configured, else by a heuristic."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rag.text import terms

log = logging.getLogger(__name__)

_FOLLOWUP_START = re.compile(r"^\s*(and|but|also|so|then|what about|how about|why|what else|and what|how come)\b", re.I)
_REFERENCE = re.compile(r"\b(he|she|they|them|him|her|his|hers|their|theirs|it|its|the same|the other|former|latter)\b",
                        re.I)
SHORT_QUESTION = 5  # a question with fewer content words than this leans on the conversation
Turn = tuple[str, str]  # (role, text) with role "user" or "assistant"


def normalize_history(history: Sequence[Any] | None) -> list[Turn]:
    """Accept (role, text) pairs, {"role", "content"} dicts (Gradio's messages) or (user, assistant) pairs."""
    turns: list[Turn] = []
    for item in history or ():
        if isinstance(item, Mapping):
            content = item.get("content")
            if isinstance(content, list):  # multimodal content parts
                content = " ".join(str(p.get("text", "")) if isinstance(p, Mapping) else str(p) for p in content)
            turns.append((str(item.get("role", "user")), str(content or "")))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            first, second = item
            if first in ("user", "assistant", "system"):
                turns.append((str(first), str(second or "")))
            else:
                turns.append(("user", str(first or "")))
                if second:
                    turns.append(("assistant", str(second)))
    return [(role, text) for role, text in turns if text.strip()]


def looks_like_followup(question: str) -> bool:
    return bool(_FOLLOWUP_START.search(question) or _REFERENCE.search(question) or len(terms(question)) < SHORT_QUESTION)


def heuristic_rewrite(question: str, history: Sequence[Turn]) -> str:
    """A follow-up borrows the previous question's words; a self-contained question stays as it is."""
    previous = next((text for role, text in reversed(history) if role == "user"), "")
    if not previous or not looks_like_followup(question):
        return question
    stripped = _FOLLOWUP_START.sub("", question).strip(" ,") or question
    return f"{stripped} ({previous})"


def rewrite(question: str, history: Sequence[Turn], chat: Any = None) -> str:
    """The standalone query for ``question``; ``chat`` is a rag.llm.ChatModel or None."""
    if not history:
        return question
    if chat is not None:
        from rag.answer.llm import condense_messages

        try:
            reply = chat.model.invoke(condense_messages(question, history))
            text = str(reply.content).strip().strip('"').split("\n")[0].strip()
            if 3 <= len(text) <= 400:
                return text
        except Exception as exc:  # noqa: BLE001 - the heuristic is a fine fallback for a failed rewrite
            log.warning("LLM rewrite of the follow-up failed (%s); using the heuristic", exc)
    return heuristic_rewrite(question, history)
