"""How the Digest and Timeline tabs look: HTML from :mod:`rag.timeline`'s records. Pure functions; no Gradio here.

A digest story's "Timeline" link (``a.nr-open-timeline``, its story id in ``data-story``) is followed by the
script in :data:`HEAD`: it selects the Timeline tab, types the id into its query box and shows that timeline.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date

from rag.figures import FigureValue
from rag.timeline import DigestItem, Event, StoryTimeline
from ui.render import REFUSAL_ICON, UNSUPPORTED_MARK, day_words, span_words


def notice(text: str, warning: bool = False) -> str:
    """A message in place of a digest or a timeline: nothing matched (ℹ️) or the input cannot be used (⚠️)."""
    icon = UNSUPPORTED_MARK if warning else REFUSAL_ICON
    return f'<div class="nr-notice">{icon} {html.escape(text)}</div>'


def _day(day: date | None) -> str:
    return day_words(day) if day else "date unknown"


def _source(item: Event | FigureValue) -> str:
    """Title (a link to the article when it has a URL), outlet(s) and day, escaped."""
    title = html.escape(item.title or "Untitled")
    link = (f'<a href="{html.escape(item.url, quote=True)}" target="_blank" rel="noopener">{title}</a>'
            if item.url else title)
    outlets = item.outlets
    return " · ".join([link, *(html.escape(o) for o in outlets), _day(item.published)])


def _quote(event: Event) -> str:
    return (f'<blockquote class="nr-lead" data-article="{html.escape(event.article_id, quote=True)}">'
            f"“{html.escape(event.sentence)}”<div class=\"nr-cite\">{_source(event)}</div></blockquote>")


def digest_html(items: Sequence[DigestItem], since: date, until: date) -> str:
    """The digest: a card per story, ranked (outlets covering it, then newest), with its cited leads and a link
    that opens its timeline."""
    span = html.escape(span_words(since, until))
    if not items:
        return notice(f"No articles were published in {span}. Pick other days (Since/Until).")
    cards = []
    for n, item in enumerate(items, 1):
        outlets = len(item.outlets)
        named = html.escape(", ".join(item.outlets)) or "outlet unknown"
        story = html.escape(item.story, quote=True)
        cards.append(
            f'<div class="nr-story" data-story="{story}">'
            f'<div class="nr-story-head">{n}. {html.escape(item.leads[0].title or "Untitled")}</div>'
            f'<div class="nr-story-meta"><span class="nr-outlets" data-count="{outlets}">'
            f'{outlets} outlet{"" if outlets == 1 else "s"}</span> ({named}) · {item.articles} '
            f'article{"" if item.articles == 1 else "s"} · newest <span class="nr-newest">{_day(item.newest)}</span> · '
            f'<a href="#" class="nr-open-timeline" data-story="{story}">Timeline →</a></div>'
            f'{"".join(_quote(e) for e in item.leads)}</div>')
    count = f"{len(items)} stor{'y' if len(items) == 1 else 'ies'}"
    return (f'<div class="nr-digest"><div class="nr-digest-head">What\'s new, {span}: {count}, most outlets first'
            f"</div>{''.join(cards)}</div>")


def _figures(found: StoryTimeline) -> str:
    if not found.figures:
        return ""
    blocks = []
    for figure in found.figures:
        rows = "".join(f'<li class="nr-figure-value" data-day="{v.published}"><span class="nr-day">{_day(v.published)}'
                       f'</span> <b>{html.escape(v.text)}</b> “{html.escape(v.sentence)}” '
                       f'<span class="nr-cite">{_source(v)}</span></li>' for v in figure.values)
        blocks.append(f'<div class="nr-figure" data-key="{html.escape(figure.key, quote=True)}">'
                      f"<b>{html.escape(figure.key)}</b><ul>{rows}</ul></div>")
    return ('<div class="nr-figures"><div class="nr-figures-head">Figures over time: the first figure each article '
            "gives for a counted thing, where it changes over days (found by a pattern: check each against its "
            f"sentence)</div>{''.join(blocks)}</div>")


def timeline_html(found: StoryTimeline, since: date | None = None, until: date | None = None) -> str:
    """A story's timeline: one line per article, oldest first (undated last): its day, its lead sentence verbatim,
    its title (linked) and outlet; then its figures over time."""
    window = f" {'in ' if since and until else ''}{span_words(since, until)}" if since or until else ""
    if not found.events:
        return notice(f"The story {found.story} has no articles published{window}.")
    rows = "".join(f'<li class="nr-event" data-day="{e.published or ""}"><span class="nr-day">{_day(e.published)}</span>'
                   f' “{html.escape(e.sentence)}” <span class="nr-cite">{_source(e)}</span></li>'
                   for e in found.events)
    outlets = sorted({o for e in found.events for o in e.outlets})
    head = (f"Story <code>{html.escape(found.story)}</code>{html.escape(window)}: {len(found.events)} article"
            f"{'' if len(found.events) == 1 else 's'} from {len(outlets)} outlet{'' if len(outlets) == 1 else 's'}")
    return (f'<div class="nr-timeline" data-story="{html.escape(found.story, quote=True)}">'
            f'<div class="nr-timeline-head">{head}</div><ol class="nr-events">{rows}</ol>{_figures(found)}</div>')


CSS = """
.nr-digest, .nr-timeline { display: flex; flex-direction: column; gap: 10px; }
.nr-digest-head, .nr-timeline-head, .nr-figures-head { font-size: 0.9em; opacity: 0.8; }
.nr-story { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; }
.nr-story-head { font-weight: 600; }
.nr-story-meta, .nr-cite { font-size: 0.85em; opacity: 0.85; }
.nr-story blockquote { margin: 6px 0 0; font-size: 0.92em; }
.nr-events { padding-left: 1.2em; }
.nr-event, .nr-figure-value { margin-bottom: 6px; }
.nr-day { font-weight: 600; white-space: nowrap; }
.nr-figure ul { margin: 2px 0 8px; }
"""

# A click on a digest story's "Timeline" link selects the Timeline tab, types the story's id into its query box
# (with empty Since/Until: the whole story) and clicks "Show timeline".
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest("a.nr-open-timeline");
  if (!link) return;
  event.preventDefault();
  const tab = Array.from(document.querySelectorAll('button[role="tab"]')).find(function (b) {
    return b.innerText.trim() === "Timeline";
  });
  if (tab) tab.click();
  let tries = 0;
  (function fill() {
    const box = document.querySelector("#nr-tl-query textarea, #nr-tl-query input");
    const show = document.querySelector("#nr-tl-show");
    if (!box || !show) { if (tries++ < 50) setTimeout(fill, 100); return; }
    ["#nr-tl-since", "#nr-tl-until"].forEach(function (id) {
      const day = document.querySelector(id + " textarea, " + id + " input");
      if (day) { day.value = ""; day.dispatchEvent(new Event("input", {bubbles: true})); }
    });
    box.value = link.dataset.story;
    box.dispatchEvent(new Event("input", {bubbles: true}));
    setTimeout(function () { show.click(); }, 50);
  })();
}, true);
</script>
"""
