"""An :class:`Answer` as the edges hand it out: JSON-ready models and Markdown.

One shape for every edge that answers from the index over a wire: the MCP tool ``ask_news`` returns
:class:`AnswerOut`; the OpenAI-compatible API returns :func:`answer_markdown` as the message content and the
same :class:`CitationOut` list as its ``citations`` field; a saved chat's Markdown export lists its sources
with :func:`source_lines`. Invariants: citation ``number`` is the ``[n]`` of the answer's text; ``quote`` is
the first passage sentence that supports a sentence citing it ("" when none was quoted).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from rag.answer.citations import render
from rag.dates import day_text
from rag.schema import Answer, AnswerSentence

SOURCES_HEADING = "Sources:"  # the line that starts the numbered source list under an answer
AS_OF_PREFIX = "*As of "  # starts the Markdown line that dates an answer by its newest cited source
UNSUPPORTED_NOTE = " (unsupported)"  # appended to a sentence no passage supports, in plain-text answers


class CitationOut(BaseModel):
    """A numbered source of an answer; ``quote`` is the sentence of it that supports the answer."""

    number: int
    title: str
    outlet: str
    published: str | None
    date: str
    url: str
    source: str
    quote: str = Field(description="the supporting sentence from this source, or '' when none was quoted")
    also_reported: list[str] = Field(description="other outlets that carried a near-identical passage")


class AnswerOut(BaseModel):
    question: str
    text: str = Field(description="the answer with [n] markers numbered as in citations (the refusal when refused)")
    lead: str = Field(description="the shortest span of a source that answers, or ''")
    refused: bool
    refusal_reason: str = Field(description="why the articles do not answer the question, or ''")
    refusal_kind: str | None
    citations: list[CitationOut]
    as_of: str | None = Field(description="the newest publication date among the cited sources (ISO), or None")
    note: str
    provider: str


def iso_day(day: date | None) -> str | None:
    """A publication day as YYYY-MM-DD, or None when unknown."""
    return day.isoformat() if day else None


def citations_out(result: Answer) -> list[CitationOut]:
    """The answer's numbered sources, each with its first quoted supporting sentence."""
    quotes: dict[int, str] = {}
    for sentence in result.sentences:
        for support in sentence.support:
            quotes.setdefault(support.citation, support.sentence)
    return [CitationOut(number=c.number, title=c.title, outlet=c.outlet, published=iso_day(c.published),
                        date=day_text(c.published), url=c.url, source=c.source, quote=quotes.get(c.number, ""),
                        also_reported=list(c.also_reported)) for c in result.citations]


def answer_out(result: Answer) -> AnswerOut:
    refusal = result.refusal
    return AnswerOut(question=result.question, text=result.text, lead=result.lead, refused=result.refused,
                     refusal_reason=refusal.reason if refusal else "", refusal_kind=refusal.kind if refusal else None,
                     citations=citations_out(result), as_of=iso_day(result.as_of), note=result.note,
                     provider=result.provider)


def marked_text(result: Answer) -> str:
    """The answer's text with its [n] markers, each sentence no passage supports followed by "(unsupported)";
    a refusal with its reason."""
    if result.refusal is not None:
        return f"{result.text} {result.refusal.reason}".strip()
    return render([s if s.verdict != "unsupported" else AnswerSentence(s.text + UNSUPPORTED_NOTE, s.citations,
                                                                       s.verdict, s.support)
                   for s in result.sentences])


def source_lines(number: int, title: str, outlet: str, published: str | None, url: str, quote: str) -> list[str]:
    """One numbered source as Markdown list lines: "n. Title (outlet, YYYY-MM-DD) URL" and the quote under it."""
    head = f"{number}. {title or 'Untitled'} ({outlet or 'unknown outlet'}, {published or 'undated'})"
    lines = [f"{head} {url}" if url else head]
    return lines + ([f"   > {quote}"] if quote else [])


def as_of_text(result: Answer) -> str:
    """"As of 2024-03-12 (the newest source cited)." for an answer whose cited sources are dated, else ""."""
    return f"As of {day_text(result.as_of)} (the newest source cited)." if result.as_of and not result.refused else ""


def answer_markdown(result: Answer) -> str:
    """The answer for a chat client: the answering span in bold with its marker (as the UI and the CLI lead with
    it), the text with [n] markers, its note, then the numbered source list."""
    text = marked_text(result)
    if result.lead and result.lead_citation and not result.refused:
        text = f"**{result.lead}** [{result.lead_citation}] — {text}"
    parts = [text]
    if stamp := as_of_text(result):
        parts.append(f"*{stamp}*")
    if not result.complete:
        parts.append("*The answer is incomplete.*")
    if result.note:
        parts.append(f"*{result.note}*")
    if result.citations:
        lines = [SOURCES_HEADING, ""]
        for c in citations_out(result):
            lines += source_lines(c.number, c.title, c.outlet, c.published, c.url, c.quote)
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def without_sources(content: str) -> str:
    """A message written by :func:`answer_markdown` without its source list (the answer text a follow-up needs)."""
    head, _, _ = content.partition(f"\n\n{SOURCES_HEADING}\n")
    return "\n\n".join(part for part in head.split("\n\n") if not part.startswith(AS_OF_PREFIX))
