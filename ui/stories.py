"""The Digest and Timeline tabs: what's new in a window of days, and one story's events and figures over time.

Each event function is a few lines around :mod:`rag.timeline`; :mod:`ui.story_views` draws the results. Input
that cannot be used (a malformed or reversed date), an empty index and a query no story matches are messages in
the tab, never a traceback.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import gradio as gr

from rag.config import Settings
from rag.dates import day_range
from rag.errors import NewsragError
from ui import story_views as views


class StoryTabs:
    """The event functions of the two tabs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.exports = Path(tempfile.mkdtemp(prefix="newsrag-digests-"))

    def _opened(self) -> tuple[Any, Any]:
        """The store and the story table; EmptyIndexError when no article has a story yet."""
        from rag.service import get_engine
        from rag.stories import stories_of

        store = get_engine(self.settings).store
        return store, stories_of(self.settings, store)

    def digest(self, since: str, until: str) -> tuple[str, str, Any]:
        """The digest as HTML, its Markdown, and the Markdown file to download (none when there is no digest)."""
        from rag.timeline import digest, digest_markdown, digest_window

        try:
            first, last = day_range(since, until, ("Since", "Until"))
            store, table = self._opened()
            first, last = digest_window(table, first, last, date.today())
            items = digest(store, table, first, last)
        except NewsragError as exc:
            return views.notice(str(exc), warning=True), "", gr.update(value=None, interactive=False)
        text = digest_markdown(items, first, last)
        path = self.exports / f"newsrag-digest-{first}-to-{last}.md"
        path.write_text(text, encoding="utf-8")
        return views.digest_html(items, first, last), text, gr.update(value=str(path), interactive=bool(items))

    def timeline(self, query: str, since: str, until: str) -> str:
        """The timeline of the story ``query`` names (its id or words), as HTML; a message when none matches."""
        from rag.service import get_engine
        from rag.timeline import story_timeline

        if not (query or "").strip():
            return views.notice("Type a story id or words naming the story, or open a story from the Digest tab.")
        try:
            first, last = day_range(since, until, ("Since", "Until"))
            store, table = self._opened()
            found = story_timeline(store, table, query.strip(), first, last, get_engine(self.settings).sentences)
        except NewsragError as exc:
            return views.notice(str(exc), warning=True)
        if found is None:
            return views.notice(f"No story matches “{query.strip()}”: try other words, or open a story from the "
                                "Digest tab.")
        return views.timeline_html(found, first, last)


def build(app: Any, settings: Settings) -> None:
    """The Digest and Timeline tabs; call inside ``app``'s Blocks, where its tabs go. The digest of the default
    window is shown when the page loads."""
    t = StoryTabs(settings)
    quiet: dict[str, Any] = {"api_visibility": "private"}
    with gr.Tab("Digest"):
        with gr.Row():
            d_since = gr.Textbox(label="Since (YYYY-MM-DD; default: 7 days before Until)", max_lines=1,
                                 elem_id="nr-dg-since")
            d_until = gr.Textbox(label="Until (YYYY-MM-DD; default: the newest day of the articles)", max_lines=1,
                                 elem_id="nr-dg-until")
            d_show = gr.Button("Show digest", variant="primary", elem_id="nr-dg-show")
        d_out = gr.HTML(elem_id="nr-digest")
        with gr.Accordion("Markdown", open=False):
            d_file = gr.DownloadButton("Download Markdown", size="sm", interactive=False, elem_id="nr-dg-download")
            d_text = gr.Code(language="markdown", label="Digest as Markdown (copy button at its top right)",
                             interactive=False, elem_id="nr-dg-markdown")
    with gr.Tab("Timeline"):
        with gr.Row():
            query = gr.Textbox(label="Story id or words naming it", max_lines=1, scale=3, elem_id="nr-tl-query")
            t_since = gr.Textbox(label="Since (YYYY-MM-DD)", max_lines=1, scale=1, elem_id="nr-tl-since")
            t_until = gr.Textbox(label="Until (YYYY-MM-DD)", max_lines=1, scale=1, elem_id="nr-tl-until")
            t_show = gr.Button("Show timeline", variant="primary", scale=1, elem_id="nr-tl-show")
        t_out = gr.HTML(elem_id="nr-timeline")
    digest_io = ([d_since, d_until], [d_out, d_text, d_file])
    d_show.click(t.digest, *digest_io, api_name="digest")
    d_since.submit(t.digest, *digest_io, **quiet)
    d_until.submit(t.digest, *digest_io, **quiet)
    app.load(t.digest, *digest_io, **quiet)
    timeline_io = ([query, t_since, t_until], [t_out])
    t_show.click(t.timeline, *timeline_io, api_name="timeline")
    for box in (query, t_since, t_until):
        box.submit(t.timeline, *timeline_io, **quiet)
