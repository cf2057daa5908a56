"""An :class:`Answer` as the edges hand it out: JSON-ready models and Markdown.

One shape for every edge that answers from the index over a wire: the MCP tool ``ask_news`` returns
:class:`AnswerOut`; the OpenAI-compatible API returns :func:`answer_markdown` as the message content and the
same :class:`CitationOut` list as its ``citations`` field; a saved chat's Markdown export lists its sources
with :func:`source_lines`. Invariants: citation ``number`` is the ``[n]`` of the answer's text; ``quote`` is
the first passage sentence that supports a sentence citing it ("" when none was quoted).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, Field

from rag.answer.citations import render
from rag.dates import day_text, day_words
from rag.schema import Answer, AnswerSentence, Citation, Disagreement, FigureValue, outlet_key

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
    outlets: list[str] = Field(description="the independent outlets that state the quoted fact, this source's first "
                               "(syndicated copies and one outlet's other articles count once)")


class FigureOut(BaseModel):
    text: str = Field(description="the figure as written, qualifier included: 'nearly 250,000'")
    outlet: str
    published: str | None
    citation: int = Field(description="its source number in the answer, 0 for a retrieved passage not cited")
    sentence: str


class DisagreementOut(BaseModel):
    """Sources that give different figures for the same counted thing."""

    noun: str
    values: list[FigureOut]


class AnswerOut(BaseModel):
    question: str
    text: str = Field(description="the answer with [n] markers numbered as in citations (the refusal when refused)")
    lead: str = Field(description="the shortest span of a source that answers, or ''")
    refused: bool
    refusal_reason: str = Field(description="why the articles do not answer the question, or ''")
    refusal_kind: str | None
    citations: list[CitationOut]
    as_of: str | None = Field(description="the newest publication date among the cited sources (ISO), or None")
    disagreements: list[DisagreementOut] = Field(description="figures the sources give differently")
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
                        also_reported=list(c.also_reported), outlets=list(c.outlets)) for c in result.citations]


def disagreements_out(result: Answer) -> list[DisagreementOut]:
    return [DisagreementOut(noun=d.noun, values=[FigureOut(text=v.text, outlet=v.outlet, published=iso_day(v.published),
                                                           citation=v.citation, sentence=v.sentence) for v in d.values])
            for d in result.disagreements]


def answer_out(result: Answer) -> AnswerOut:
    refusal = result.refusal
    return AnswerOut(question=result.question, text=result.text, lead=result.lead, refused=result.refused,
                     refusal_reason=refusal.reason if refusal else "", refusal_kind=refusal.kind if refusal else None,
                     citations=citations_out(result), as_of=iso_day(result.as_of),
                     disagreements=disagreements_out(result), note=result.note,
                     provider=result.provider)


def _cited(result: Answer, sentence: AnswerSentence) -> list[Citation]:
    """The citations a sentence's markers name, in its order."""
    by_number = {c.number: c for c in result.citations}
    return [by_number[n] for n in sentence.citations if n in by_number]


def sentence_day(result: Answer, sentence: AnswerSentence) -> str:
    """The publication day of the first source a sentence cites, in words ("date unknown" when it has none)."""
    cited = _cited(result, sentence)
    return day_words(cited[0].published) if cited and cited[0].published else "date unknown"


def marked_text(result: Answer) -> str:
    """The answer's text with its [n] markers, each sentence no passage supports followed by "(unsupported)";
    a refusal with its reason. A timeline-shaped answer is a list, a line per event with its source's day."""
    if result.refusal is not None:
        return f"{result.text} {result.refusal.reason}".strip()
    marked = [s if s.verdict != "unsupported" else AnswerSentence(s.text + UNSUPPORTED_NOTE, s.citations, s.verdict,
                                                                  s.support) for s in result.sentences]
    if result.shape == "timeline":
        return "\n".join(f"- {sentence_day(result, s)}: {render([m])}" for s, m in zip(result.sentences, marked))
    return render(marked)


def source_lines(number: int, title: str, outlet: str, published: str | None, url: str, quote: str) -> list[str]:
    """One numbered source as Markdown list lines: "n. Title (outlet, YYYY-MM-DD) URL" and the quote under it."""
    head = f"{number}. {title or 'Untitled'} ({outlet or 'unknown outlet'}, {published or 'undated'})"
    lines = [f"{head} {url}" if url else head]
    return lines + ([f"   > {quote}"] if quote else [])


def as_of_text(result: Answer) -> str:
    """"As of 2024-03-12 (the newest source cited)." for an answer whose cited sources are dated, else ""."""
    return f"As of {day_text(result.as_of)} (the newest source cited)." if result.as_of and not result.refused else ""


def outlets_text(outlets: Sequence[str]) -> str:
    """"reported by 3 outlets: CNN, Reuters, BBC" ("" for none)."""
    n = len(outlets)
    return f"reported by {n} outlet{'s' if n != 1 else ''}: {', '.join(outlets)}" if n else ""


def sentence_outlets(result: Answer, sentence: AnswerSentence) -> tuple[str, ...]:
    """The outlets that state a sentence's fact: those of every source it cites, each once."""
    found = {outlet_key(o): o for c in _cited(result, sentence) for o in c.outlets}
    return tuple(found.values())


def _figure_text(value: FigureValue) -> str:
    when = day_words(value.published) if value.published else "undated"
    mark = f" [{value.citation}]" if value.citation else ""
    return f"{value.text} ({value.outlet or 'unknown outlet'}, {when}){mark}"


def disagreement_text(disagreement: Disagreement) -> str:
    """"Sources differ on casualty: 300,000 (CNN, 5 Sept 2023) [1] vs nearly 250,000 (Reuters, 1 Sept 2023)"."""
    return f"Sources differ on {disagreement.noun}: " + " vs ".join(_figure_text(v) for v in disagreement.values)


def answer_markdown(result: Answer) -> str:
    """The answer for a chat client: the answering span in bold with its marker (as the UI and the CLI lead with
    it), the text with [n] markers, its note, then the numbered source list."""
    text = marked_text(result)
    if result.lead and result.lead_citation and not result.refused:
        text = f"**{result.lead}** [{result.lead_citation}] — {text}"
    parts = [text]
    if stamp := as_of_text(result):
        parts.append(f"*{stamp}*")
    parts += [f"*{disagreement_text(d)}*" for d in result.disagreements]
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
