"""How answers and sources look in the page: Markdown for the chat, HTML for the sources panel.

Pure functions of the library's records; no Gradio here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from rag.answer.injection import instruction_spans
from rag.dates import day_text, describe
from rag.schema import Answer, Hit, IndexStats, IngestReport

REFUSAL_ICON = "ℹ️"
UNSUPPORTED_MARK = "⚠️"


def marker_links(numbers: Sequence[int]) -> str:
    return "".join(f"[[{n}]](#src-{n})" for n in numbers)


def dates_line(answer: Answer) -> str:
    """Which dates were read from the question, as a small line above the answer ("" when none)."""
    if not answer.dates:
        return ""
    return (f"*Dates read from the question: “{html.escape(answer.dates.text)}” = {describe(answer.dates)} "
            "(articles from then rank higher; none are left out).*")


def answer_markdown(answer: Answer) -> str:
    """The answer with clickable [n] markers, its answering span first in bold; unsupported sentences visibly
    marked; refusals as information with their reason."""
    head = dates_line(answer)
    if answer.refused:
        reason = f" {answer.refusal.reason}" if answer.refusal and answer.refusal.reason else ""
        text = f"{REFUSAL_ICON} {answer.text}{reason}"
        return "\n\n".join(x for x in (head, text, f"*{answer.note}*" if answer.note else "") if x)
    parts = []
    if answer.lead:
        parts.append(f"**{answer.lead}** {marker_links([answer.lead_citation])} —")
    for sentence in answer.sentences:
        body = sentence.text
        markers = marker_links(sentence.citations)
        if sentence.verdict == "unsupported":
            body = f"{UNSUPPORTED_MARK} *{body}* (not supported by the sources)"
        parts.append(f"{body} {markers}".rstrip())
    text = " ".join(parts)
    if head:
        text = f"{head}\n\n{text}"
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


def _card(number: int, title: str, outlet: str, published: str, url: str, source: str, body: str,
          also: Sequence[str]) -> str:
    link = (f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener">{html.escape(title)}</a>'
            if url else html.escape(title))
    meta = " · ".join(x for x in (html.escape(outlet), html.escape(published)) if x)
    if not url and source:
        meta += f" · <code>{html.escape(source)}</code>"
    if also:
        meta += f" · also reported by {html.escape(', '.join(also))}"
    return (f'<div class="nr-source" id="src-{number}" data-source="{number}">'
            f'<div class="nr-source-head"><span class="nr-num">[{number}]</span> {link}</div>'
            f'<div class="nr-source-meta">{meta}</div><blockquote>{body}</blockquote></div>')


def sources_html(answer: Answer) -> str:
    """The cited articles with each cited passage, the supporting sentence highlighted."""
    if answer.refused or not answer.citations:
        note = "No sources: the indexed articles don't cover this." if answer.refused else "No sources cited."
        return f'<div class="nr-sources nr-empty">{note}</div>'
    cards = []
    for c in answer.citations:
        spans = [(s.start - c.passage_start, s.end - c.passage_start)
                 for sentence in answer.sentences for s in sentence.support if s.citation == c.number]
        published = day_text(c.published)
        cards.append(_card(c.number, c.title, c.outlet, published, c.url, c.source, _highlight(c.passage, spans),
                           c.also_reported))
    return '<div class="nr-sources">' + "".join(cards) + "</div>"


def retrieved_html(hits: Sequence[Hit]) -> str:
    """While the answer streams: the passages the answerer is reading."""
    cards = [_card(i, h.passage.title, h.passage.outlet,
                   day_text(h.passage.published),
                   h.passage.url, h.passage.source, _highlight(h.passage.text), h.also_reported)
             for i, h in enumerate(hits, start=1)]
    return '<div class="nr-sources nr-pending">' + "".join(cards) + "</div>"


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
.nr-sources { display: flex; flex-direction: column; gap: 10px; max-height: 640px; overflow-y: auto; }
.nr-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; }
.nr-source.nr-focus { outline: 3px solid var(--color-accent); }
.nr-source-head { font-weight: 600; }
.nr-source-meta { font-size: 0.85em; opacity: 0.8; margin: 2px 0 6px; }
.nr-source blockquote { margin: 0; font-size: 0.9em; white-space: pre-wrap; }
.nr-source mark { background: #ffe58a; color: inherit; padding: 0 2px; }
.nr-pending { opacity: 0.75; }
.nr-num { color: var(--color-accent); }
"""

# A click on a citation marker brings its source into view instead of following the link.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest('a[href^="#src-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const id = link.getAttribute("href").slice(1);
  const card = document.getElementById(id);
  if (!card) return;
  document.querySelectorAll(".nr-source.nr-focus").forEach(function (el) { el.classList.remove("nr-focus"); });
  card.classList.add("nr-focus");
  card.scrollIntoView({behavior: "smooth", block: "nearest"});
}, true);
</script>
"""
