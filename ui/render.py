"""How answers and sources look in the page: Markdown for the chat, HTML for the sources panel.

Pure functions of the library's records; no Gradio here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from rag.answer.injection import instruction_spans
from rag.dates import SHORT_MONTHS as MONTHS
from rag.dates import day_text, day_words
from rag.outputs import disagreement_text, outlets_text, sentence_day, sentence_outlets
from rag.schema import Answer, Filters, Hit, IndexStats, IngestReport

REFUSAL_ICON = "ℹ️"
UNSUPPORTED_MARK = "⚠️"


def span_words(since: date | None, until: date | None) -> str:
    """A range of days, shortest first: "12–20 Sept 2023", "28 Aug – 3 Sept 2023", "since 1 Sept 2023" ("" for
    none). Ranges read as days, both ends included."""
    if since and until:
        if since == until:
            return day_words(since)
        if (since.year, since.month) == (until.year, until.month):
            return f"{since.day}–{until.day} {MONTHS[until.month - 1]} {until.year}"
        if since.year == until.year:
            return f"{since.day} {MONTHS[since.month - 1]} – {day_words(until)}"
        return f"{day_words(since)} – {day_words(until)}"
    if since:
        return f"since {day_words(since)}"
    return f"until {day_words(until)}" if until else ""


def filters_text(filters: Filters) -> str:
    """The explicit filters as one short phrase: "12–20 Sept 2023 · Reuters" ("" when there are none)."""
    return " · ".join(x for x in (span_words(filters.since, filters.until), ", ".join(filters.outlets)) if x)


def marker_links(numbers: Sequence[int], key: int) -> str:
    """``[n]`` markers as links to the sources of answer ``key`` (see :func:`sources_html`)."""
    return "".join(f"[[{n}]]({source_href(key, n)})" for n in numbers)


def source_href(key: int, number: int) -> str:
    return f"#src-{key}-{number}"


def context_lines(answer: Answer) -> str:
    """Small lines above the answer: the filters in effect, and the dates read from the question ("" when none)."""
    lines = []
    if shown := filters_text(answer.filters):
        lines.append(f"*Filters: {html.escape(shown)}*")
    if answer.dates:
        span = span_words(answer.dates.since, answer.dates.until)
        lines.append(f"*Dates read from the question: “{html.escape(answer.dates.text)}” = {span} "
                     "(articles from then rank higher; none are left out).*")
    return "  \n".join(lines)


def answer_markdown(answer: Answer, key: int) -> str:
    """The answer with [n] markers that open its own sources (``key``: its place in the conversation), its
    answering span first in bold; unsupported sentences visibly marked; refusals as information with their
    reason; the filters in effect and the dates read from the question above it."""
    head = context_lines(answer)
    if answer.refused:
        reason = f" {answer.refusal.reason}" if answer.refusal and answer.refusal.reason else ""
        text = f"{REFUSAL_ICON} {answer.text}{reason}"
        return "\n\n".join(x for x in (head, text, f"*{answer.note}*" if answer.note else "") if x)
    lead = f"**{answer.lead}** {marker_links([answer.lead_citation], key)} —" if answer.lead else ""
    parts = []
    for sentence in answer.sentences:
        body = sentence.text
        markers = marker_links(sentence.citations, key)
        if sentence.verdict == "unsupported":
            body = f"{UNSUPPORTED_MARK} *{body}* (not supported by the sources)"
        elif len(outlets := sentence_outlets(answer, sentence)) > 1:  # one outlet is the plain case: not repeated
            markers += f" *({html.escape(outlets_text(outlets))})*"
        parts.append(f"{body} {markers}".rstrip())
    if answer.shape == "timeline":  # a line per event, with its source's day, oldest first
        text = "\n".join(f"- **{sentence_day(answer, s)}**: {part}" for s, part in zip(answer.sentences, parts))
    else:
        text = " ".join(filter(None, (lead, *parts)))
    if head:
        text = f"{head}\n\n{text}"
    if answer.as_of:
        text += f"\n\n*As of {day_words(answer.as_of)} (the newest source cited).*"
    for disagreement in answer.disagreements:
        text += f"\n\n{UNSUPPORTED_MARK} *{html.escape(disagreement_text(disagreement))}*"
    if not answer.complete:
        text += f"\n\n{UNSUPPORTED_MARK} *The answer is incomplete.*"
    if answer.note:
        text += f"\n\n*{answer.note}*"
    return text


def streaming_markdown(raw: str) -> str:
    return raw + " ▌"


INSTRUCTION_TITLE = "Reads as an instruction to an assistant: never quoted in an answer"


def _highlight(text: str, spans: Sequence[tuple[int, int]] = ()) -> str:
    """``text``, escaped, with the supporting sentences (``spans``, offsets in ``text``) wrapped in <mark> and
    the sentences that read as instructions to an assistant struck through with a title that says why."""
    tagged = {(s, e, "mark") for s, e in spans} | {(s, e, "instruction") for s, e in instruction_spans(text)}
    out, cursor = [], 0
    for start, end, tag in sorted(tagged):
        start, end = max(0, start), min(len(text), end)
        if start < cursor or start >= end:
            continue
        out.append(html.escape(text[cursor:start]))
        body = html.escape(text[start:end])
        out.append(f"<mark>{body}</mark>" if tag == "mark" else
                   f'<s class="nr-instruction" title="{INSTRUCTION_TITLE}">{body}</s>')
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


@dataclass(frozen=True)
class Shown:
    """One passage as a source card shows it, with its article's metadata."""

    number: int  # the [n] of the answer (or of the list being read)
    article_id: str
    title: str
    outlet: str
    published: date | None
    url: str
    source: str
    start: int  # the passage's offset in its article: passages of one card read in article order
    body: str  # escaped HTML, supporting sentences marked
    also: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()  # the independent outlets stating its quoted fact (none counted: empty)


def _card(passages: Sequence[Shown], key: int) -> str:
    """One article's card: title, outlet, date and link once, then each of its passages under its own [n]."""
    first = passages[0]
    link = (f'<a href="{html.escape(first.url, quote=True)}" target="_blank" rel="noopener">{html.escape(first.title)}</a>'
            if first.url else html.escape(first.title))
    meta = " · ".join(x for x in (html.escape(first.outlet), html.escape(day_text(first.published))) if x)
    if not first.url and first.source:
        meta += f" · <code>{html.escape(first.source)}</code>"
    if also := tuple(dict.fromkeys(o for p in passages for o in p.also)):
        meta += f" · also reported by {html.escape(', '.join(also))}"
    if outlets := max((p.outlets for p in passages), key=len):
        meta += f' · <span class="nr-outlets">{html.escape(outlets_text(outlets))}</span>'
    if len(passages) > 1:
        meta += f" · {len(passages)} passages"
    numbers = "".join(f"[{p.number}]" for p in sorted(passages, key=lambda p: p.number))
    quotes = "".join(f'<blockquote class="nr-passage" id="{source_href(key, p.number)[1:]}" data-source="{p.number}">'
                     f'<span class="nr-num">[{p.number}]</span> {p.body}</blockquote>'
                     for p in sorted(passages, key=lambda p: (p.start, p.number)))
    return (f'<div class="nr-source" data-article="{html.escape(first.article_id, quote=True)}">'
            f'<div class="nr-source-head"><span class="nr-num">{numbers}</span> {link}</div>'
            f'<div class="nr-source-meta">{meta}</div>{quotes}</div>')


def cards_html(passages: Sequence[Shown], key: int) -> str:
    """One card per article, in the order of each article's first passage; its passages grouped under it."""
    groups: dict[str, list[Shown]] = {}
    for p in passages:
        groups.setdefault(p.article_id or f"#{p.number}", []).append(p)
    return "".join(_card(group, key) for group in groups.values())


def _heading(question: str, pending: bool = False) -> str:
    what = "Reading for" if pending else "Sources of"
    return f'<div class="nr-sources-of">{what} “{html.escape(question)}”</div>'


def sources_html(answer: Answer, key: int) -> str:
    """The sources of the answer at ``key`` (its place in the conversation): one card per cited article, each
    cited passage under it with the supporting sentence highlighted; its passages' ids are the answer's
    markers' targets (:func:`source_href`)."""
    if answer.refused or not answer.citations:
        note = "No sources: the indexed articles don't cover this." if answer.refused else "No sources cited."
        return f'{_heading(answer.question)}<div class="nr-empty">{note}</div>'
    shown = []
    for c in answer.citations:
        spans = [(s.start - c.passage_start, s.end - c.passage_start)
                 for sentence in answer.sentences for s in sentence.support if s.citation == c.number]
        shown.append(Shown(c.number, c.article_id, c.title, c.outlet, c.published, c.url, c.source, c.passage_start,
                           _highlight(c.passage, spans), c.also_reported, c.outlets))
    return _heading(answer.question) + cards_html(shown, key)


def retrieved_html(question: str, hits: Sequence[Hit], key: int) -> str:
    """While the answer at ``key`` streams: the passages the answerer is reading, grouped by article."""
    shown = [Shown(i, h.passage.article_id, h.passage.title, h.passage.outlet, h.passage.published, h.passage.url,
                   h.passage.source, h.passage.start, _highlight(h.passage.text), h.also_reported)
             for i, h in enumerate(hits, start=1)]
    return f'<div class="nr-pending">{_heading(question, pending=True)}{cards_html(shown, key)}</div>'


def sources_panel(blocks: Mapping[str, str]) -> str:
    """The sources panel: every answer's sources (``blocks``: its :func:`sources_html`, keyed by the answer's
    key), the newest shown and the others hidden until a marker of their answer is clicked."""
    keys = sorted(blocks, key=int)
    inner = "".join(f'<div class="nr-answer-sources{"" if k == keys[-1] else " nr-hidden"}" data-answer="{k}">'
                    f"{blocks[k]}</div>" for k in keys)
    return f'<div class="nr-sources">{inner}</div>'


def providers_note(provider: str, problems: Mapping[str, str]) -> str:
    """Under the answerer list: the providers it leaves out and what to set for each (``problems``, from
    :func:`rag.llm.provider_problems`), first saying so when ``[llm] provider`` is one of them ("" when none)."""
    if not problems:
        return ""
    lines = [f'{UNSUPPORTED_MARK} `[llm] provider = "{provider}"` is not configured, so the extractive answerer '
             "answers."] if provider in problems else []
    lines.append("Not offered until configured (in config.toml or the environment, then restart `newsrag serve`):")
    lines += [f"- **{name}**: {html.escape(problem)}" for name, problem in problems.items()]
    return "\n".join(lines)


def stats_markdown(stats: IndexStats) -> str:
    span = f"{stats.first_date} to {stats.last_date}" if stats.first_date else "no dated articles"
    outlets = ", ".join(f"{name} ({n})" for name, n in stats.outlets[:8])
    more = f" and {len(stats.outlets) - 8} more" if len(stats.outlets) > 8 else ""
    warning = f"{UNSUPPORTED_MARK} **Partial counts**: {stats.interrupted.describe()}.  \n" if stats.interrupted else ""
    return (f"{warning}**{stats.articles}** articles (+{stats.aliases} duplicates) · **{stats.chunks}** chunks · {span}  \n"
            f"Outlets: {outlets or 'none'}{more}  \n"
            f"Index: `{stats.location}` · embeddings: `{stats.embedding_model}`")


def report_rows(report: IngestReport) -> list[list[object]]:
    order = {"failed": 0, "added": 1, "updated": 2, "removed": 3, "duplicate": 4, "unchanged": 5}
    items = sorted(report.items, key=lambda i: (order.get(i.outcome, 9), i.source))
    return [[i.outcome, i.source, i.title, i.chunks, i.reason] for i in items]


def report_summary(report: IngestReport) -> str:
    totals = ", ".join(f"{n} {k}" for k, n in report.totals.items() if n)
    notes = "".join(f"  \nRepaired: {note}" for note in report.notes)
    return f"{totals or 'nothing to do'} in {report.seconds:.1f} s ({report.chunks_embedded} chunks embedded){notes}"


CSS = """
.nr-sources { max-height: 640px; overflow-y: auto; }
.nr-answer-sources, .nr-pending { display: flex; flex-direction: column; gap: 10px; }
.nr-answer-sources.nr-hidden { display: none; }
.nr-sources-of { font-size: 0.85em; opacity: 0.8; }
.nr-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; }
.nr-source.nr-focus { outline: 3px solid var(--color-accent); }
.nr-source-head { font-weight: 600; }
.nr-source-meta { font-size: 0.85em; opacity: 0.8; margin: 2px 0 6px; }
.nr-source blockquote { margin: 0 0 6px; font-size: 0.9em; white-space: pre-wrap; }
.nr-source blockquote.nr-focus { background: var(--background-fill-secondary); }
.nr-source mark { background: #ffe58a; color: inherit; padding: 0 2px; }
.nr-pending { opacity: 0.75; }
.nr-num { color: var(--color-accent); }
"""

# A click on a citation marker (#src-KEY-N) shows the sources of its own answer (KEY) in the panel, hiding the
# others, and brings passage N and its article's card into view, instead of following the link.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest('a[href^="#src-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const passage = document.getElementById(link.getAttribute("href").slice(1));
  if (!passage) return;
  const block = passage.closest(".nr-answer-sources");
  if (block) {
    block.parentElement.querySelectorAll(".nr-answer-sources").forEach(function (el) {
      el.classList.toggle("nr-hidden", el !== block);
    });
  }
  document.querySelectorAll(".nr-focus").forEach(function (el) { el.classList.remove("nr-focus"); });
  passage.classList.add("nr-focus");
  const card = passage.closest(".nr-source");
  if (card) card.classList.add("nr-focus");
  passage.scrollIntoView({behavior: "smooth", block: "nearest"});
}, true);
</script>
"""
