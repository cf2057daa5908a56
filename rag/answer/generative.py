"""The generative answerer (a language model writes the answer; :mod:`rag.answer.extractive` quotes it):
numbered sources fitted to the model's window, streamed tokens. The model itself comes from :mod:`rag.llm`.

The prompt (``rag.prompts``) numbers the passages, asks for ``[n]`` after each
claim, fences article text as data and forbids outside knowledge; sentences that read as instructions
to an assistant are withheld from it (:mod:`rag.answer.injection`). Passages are
added best first while their tokens fit ``window - max_tokens``; the ones left
out are reported in the answer's note, never cut silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from rag import prompts
from rag.answer.injection import withhold
from rag.errors import ModelError
from rag.llm import ChatModel
from rag.schema import Hit

PROMPT_MARGIN = 48  # tokens for chat-template wrapping of the two messages


class ContextOverflowError(ModelError):
    """Not even the question and the best passage fit the model's context window."""


def format_source(number: int, hit: Hit) -> str:
    p = hit.passage
    clean = withhold(p.text).replace("</source>", "</ source>")  # a passage cannot close its own fence
    return prompts.SOURCE_TEMPLATE.format(
        number=number, title=p.title.replace('"', "'"), outlet=p.outlet.replace('"', "'"),
        date=p.published.isoformat() if p.published else "unknown", text=clean,
    )


def build_messages(question: str, hits: Sequence[Hit], chat: ChatModel, max_tokens: int) -> tuple[list[Any], list[Hit], str]:
    """(LangChain messages, the hits that fit, a note when some did not)."""
    from langchain_core.messages import HumanMessage, SystemMessage

    budget = chat.context_window - max_tokens - PROMPT_MARGIN
    fixed = chat.count_tokens(prompts.ANSWER_SYSTEM) + chat.count_tokens(
        prompts.ANSWER_USER.format(sources="", question=question))
    used: list[Hit] = []
    blocks: list[str] = []
    spent = fixed
    for hit in hits:
        block = format_source(len(used) + 1, hit)
        cost = chat.count_tokens(block) + 2
        if spent + cost > budget:
            break
        used.append(hit)
        blocks.append(block)
        spent += cost
    if not used and hits:
        need = fixed + chat.count_tokens(format_source(1, hits[0]))
        raise ContextOverflowError(
            f"The question and the best passage need about {need} tokens, but {chat.name}'s context window "
            f"({chat.context_window}) leaves {budget} after reserving [llm] max_tokens = {max_tokens}. "
            "Raise [llm] n_ctx (llamacpp) or context_window, or lower [llm] max_tokens."
        )
    note = prompts.CONTEXT_TRIMMED_NOTE.format(kept=len(used), total=len(hits)) if len(used) < len(hits) else ""
    messages = [SystemMessage(prompts.ANSWER_SYSTEM),
                HumanMessage(prompts.ANSWER_USER.format(sources="\n\n".join(blocks), question=question))]
    return messages, used, note


def stream_tokens(chat: ChatModel, messages: list[Any]) -> Iterator[str]:
    """The model's answer, token by token (LangChain ``stream``)."""
    for chunk in chat.model.stream(messages):
        text = chunk.content if isinstance(chunk.content, str) else "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in chunk.content)
        if text:
            yield text


def condense_messages(question: str, history: Sequence[tuple[str, str]]) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    lines = "\n".join(f"{'User' if role == 'user' else 'Assistant'}: {text}" for role, text in history[-6:])
    return [SystemMessage(prompts.CONDENSE_SYSTEM),
            HumanMessage(prompts.CONDENSE_USER.format(history=lines, question=question))]
