"""Gradio app: layout and event wiring only.

Every action calls the library: ``rag.service.ask`` for chat, ``ingest.*`` for
indexing; ``ui.render`` decides how the results look.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.config import LLM_PROVIDERS, Settings
from rag.dates import parse_day, typed_filters
from rag.errors import NewsragError
from rag.llm import provider_problems
from rag.schema import Answer, ArticleReport, Filters, IngestReport
from ui import render

# Gradio reads this when it is imported: no usage analytics leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

log = logging.getLogger(__name__)

EXAMPLES = [
    "Why is Putin turning to North Korea for weapons?",
    "What did retired Lt. Gen. Mark Hertling say about Putin?",
    "What did the State Department say about Russia and Cuban fighters?",
]
REPORT_HEADERS = ["outcome", "source", "title", "chunks", "reason"]


class Handlers:
    """The functions events call; each a few lines around the library."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- chat ------------------------------------------------------------------------------------

    def stream(self, message: str, history: list[dict[str, Any]], turns: list[list[str]], panels: dict[str, str],
               since: str, until: str, outlets: list[str] | None, provider: str,
               top_k: float) -> Iterator[tuple[Any, ...]]:
        """The conversation, the sources panel, the history and the panel's blocks (every answer's sources, keyed
        by its place in the conversation) as the answer streams, and the finished :class:`Answer` with the last of
        them (None before, and when it failed). ``ui.chats`` saves it."""
        from rag.service import Done, Error, Sources, Token, ask

        history = list(history or []) + [{"role": "user", "content": message},
                                         {"role": "assistant", "content": "…"}]
        turns, panels = list(turns or []), dict(panels or {})
        key = len(history) - 1  # this answer's place: its markers open its own block of the panel

        def shown(block: str | None, text: str, done: Answer | None = None) -> tuple[Any, ...]:
            if block is not None:
                panels[str(key)] = block
            history[-1] = {"role": "assistant", "content": text}
            return history, render.sources_panel(panels), turns, panels, done

        yield shown(None, "…")
        try:
            filters = Filters(parse_day(since, "Since"), parse_day(until, "Until"), tuple(outlets or ()))
        except NewsragError as exc:
            yield shown(None, f"{render.UNSUPPORTED_MARK} {exc}")
            return
        raw = ""
        for event in ask(message, turns, filters, self.settings, provider=provider or None, top_k=int(top_k or 0) or None):
            if isinstance(event, Sources):
                yield shown(render.retrieved_html(message, event.hits, key), history[-1]["content"])
            elif isinstance(event, Token):
                raw += event.text
                yield shown(None, render.streaming_markdown(raw))
            elif isinstance(event, Done):
                turns += [["user", message], ["assistant", event.answer.text]]
                yield shown(render.sources_html(event.answer, key), render.answer_markdown(event.answer, key),
                            event.answer)
            elif isinstance(event, Error):
                text = f"{render.UNSUPPORTED_MARK} {event.message}"
                if event.partial is None:
                    panels.pop(str(key), None)
                    yield shown(None, text)
                else:
                    yield shown(render.sources_html(event.partial, key),
                                render.answer_markdown(event.partial, key) + "\n\n" + text)

    def answer_api(self, question: str, since: str = "", until: str = "", outlet: str = "", provider: str = "",
                   top_k: int = 0) -> dict[str, Any]:
        """Answer a question from the indexed articles; returns the whole structured answer as JSON. A question
        or filter that cannot be used, or an answerer that cannot answer, is an error with the message."""
        from rag.service import answer, answer_dict
        from ui.errors import told

        try:
            return answer_dict(answer(question, None, typed_filters(since, until, outlet), self.settings,
                                      provider=provider or None, top_k=top_k or None))
        except NewsragError as exc:
            raise told(str(exc)) from exc

    # -- index -------------------------------------------------------------------------------------

    def overview(self) -> tuple[str, Any]:
        """Index statistics as Markdown, and the outlet choices for the filter."""
        import gradio as gr

        from rag.service import get_engine

        try:
            stats = get_engine(self.settings).store.stats()
        except NewsragError as exc:
            return f"{render.UNSUPPORTED_MARK} {exc}", gr.update(choices=[])
        names = [name for name, _ in stats.outlets if name != "(unknown)"]
        return render.stats_markdown(stats), gr.update(choices=names)

    def failed(self) -> Any:
        """The uploads that failed to index, each with its reason, to tick for removal."""
        import gradio as gr

        from ingest.uploads import failed_uploads

        items = failed_uploads(self.settings)
        label = f"Failed uploads ({len(items)}): tick to remove" if items else "No failed uploads"
        return gr.update(choices=[(f"{f.source}: {f.reason}", f.source) for f in items], value=[], label=label)

    def remove(self, sources: list[str] | None) -> Any:
        """Delete the ticked failed uploads; the list again."""
        import gradio as gr

        from ingest.uploads import remove_upload
        from ui.errors import told

        try:
            for source in sources or []:
                remove_upload(source, self.settings)
        except NewsragError as exc:
            raise told(str(exc)) from exc
        if sources:
            gr.Info(f"Removed {len(sources)} file(s).")
        return self.failed()

    def _finish(self, report: IngestReport) -> tuple[Any, ...]:
        import gradio as gr

        if report.failed:
            gr.Warning(f"{report.count('failed')} item(s) could not be indexed: see the table for the reasons.")
        return (render.report_rows(report), render.report_summary(report), *self.overview(), self.failed())

    def _progress(self, progress: Any) -> Any:
        def update(p: Any) -> None:
            progress(p.files_done / max(1, p.files_total), desc=f"{p.articles_done} articles, {p.chunks_embedded} chunks")
        return update

    def _guard(self, action: Any) -> tuple[Any, ...]:
        from ui.errors import told

        try:
            return self._finish(action())
        except NewsragError as exc:
            raise told(str(exc)) from exc

    def upload(self, files: list[Any] | None, progress: Any = None) -> tuple[Any, ...]:
        from ingest.index import ingest_paths
        from ingest.uploads import save_uploads

        def action() -> IngestReport:
            pairs = []
            for f in files or []:
                path = Path(getattr(f, "name", None) or str(f))
                original = getattr(f, "orig_name", None) or path.name
                pairs.append((original, path))
            saved = save_uploads(pairs, self.settings)
            rejected = tuple(ArticleReport(s.name, "failed", reason=s.reason) for s in saved if s.path is None)
            paths = [s.path for s in saved if s.path is not None]
            report = ingest_paths(paths, self.settings, progress=self._progress(progress)) if paths else IngestReport()
            return IngestReport(rejected) + report

        return self._guard(action)

    def paste(self, title: str, day: str, outlet: str, url: str, text: str, progress: Any = None) -> tuple[Any, ...]:
        from ingest.index import ingest_paths
        from ingest.uploads import save_pasted
        from ui.errors import told

        if not title.strip() or not text.strip():
            raise told("A pasted article needs a title and its text.")

        def action() -> IngestReport:
            path = save_pasted(title, text, self.settings, published=parse_day(day, "Date"), outlet=outlet, url=url)
            return ingest_paths([path], self.settings, progress=self._progress(progress))

        return self._guard(action)

    def feeds(self) -> str:
        """The configured feeds' last polls, as Markdown."""
        from ingest.feeds import feed_status
        from ui.feed_views import feeds_markdown

        return feeds_markdown(feed_status(self.settings), self.settings.feeds.interval_minutes)

    def poll(self) -> tuple[Any, ...]:
        """Poll every configured feed now (as `newsrag ingest --feeds`); the index outputs and the feeds block."""
        import gradio as gr

        from ingest.feeds import describe, poll_feeds
        from ui.errors import told

        if not self.settings.feeds.urls:
            raise told("No feeds to poll: list RSS/Atom URLs in [feeds] urls in config.toml.")
        try:
            report = poll_feeds(self.settings)
        except NewsragError as exc:
            raise told(str(exc)) from exc
        for feed in report.feeds:
            (gr.Warning if feed.outcome == "error" else gr.Info)(f"{feed.url}: {describe(feed)}")
        return (*self._finish(report.ingest), self.feeds())

    def fetch(self, urls: str, progress: Any = None) -> tuple[Any, ...]:
        from ingest.web import ingest_urls
        from ui.errors import told

        wanted = [u.strip() for u in (urls or "").split() if u.strip()]
        if not wanted:
            raise told("Paste a page URL or an RSS/Atom feed URL.")
        return self._guard(lambda: ingest_urls(wanted, self.settings))

    def rescan(self, progress: Any = None) -> tuple[Any, ...]:
        from ingest.index import ingest_paths

        return self._guard(lambda: ingest_paths([self.settings.articles_dir], self.settings, prune=True,
                                                progress=self._progress(progress)))


def build_app(settings: Settings) -> Any:
    import gradio as gr

    from ui import chats, errors, stories

    h = Handlers(settings)
    problems = provider_problems(settings)
    offered = [p for p in LLM_PROVIDERS if p not in problems]
    default = settings.llm.provider if settings.llm.provider in offered else "extractive"

    def upload(files: list[Any] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return h.upload(files, progress)

    def paste(title: str, day: str, outlet: str, url: str, text: str,
              progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return h.paste(title, day, outlet, url, text, progress)

    def fetch(urls: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return h.fetch(urls, progress)

    def rescan(progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return h.rescan(progress)

    with gr.Blocks(title="newsrag", analytics_enabled=False) as app:
        gr.Markdown("# newsrag\nAnswers from your news articles. Every claim cites the passage it comes from.")
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Conversation", height=520, elem_id="nr-chat",
                                         buttons=["copy", "copy_all"])  # no share: it needs a Hugging Face Space
                    with gr.Row():
                        box = gr.Textbox(placeholder="Ask about the indexed articles…", show_label=False, scale=5,
                                         elem_id="nr-question")
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="nr-ask")
                    examples = gr.Examples(EXAMPLES, inputs=box, label="Try (a click asks it)",
                                           elem_id="nr-examples")
                    with gr.Accordion("Options", open=False):
                        with gr.Row():
                            since = gr.Textbox(label="Since (YYYY-MM-DD)", max_lines=1, elem_id="nr-since")
                            until = gr.Textbox(label="Until (YYYY-MM-DD)", max_lines=1, elem_id="nr-until")
                        # the choices arrive when the page loads; an outlet the index lacks is no error, only no passage
                        outlets = gr.Dropdown(label="Outlets", multiselect=True, choices=[], allow_custom_value=True)
                        with gr.Row():
                            # only the providers that can answer; one named anyway (the API) gets what to set
                            provider = gr.Dropdown(offered, value=default, label="Answerer", allow_custom_value=True,
                                                   elem_id="nr-provider")
                            top_k = errors.quiet(gr.Slider(1, 12, value=settings.retrieve.top_k, step=1,
                                                           label="Passages (top-k)"))
                        gr.Markdown(render.providers_note(settings.llm.provider, problems), elem_id="nr-providers")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(elem_id="nr-sources")
            turns = gr.State([])
            panels = gr.State({})  # every answer's sources, keyed by its place in the conversation
            chats.build(app, settings, h, chatbot, sources, turns, panels, box, send, examples,
                        [box, chatbot, turns, panels, since, until, outlets, provider, top_k])
        stories.build(app, settings)
        with gr.Tab("Index"):
            stats = gr.Markdown(elem_id="nr-stats")
            with gr.Row():
                with gr.Column():
                    files = gr.File(label="Upload articles (.txt .md .html .json .jsonl .pdf .docx)", file_count="multiple",
                                    elem_id="nr-upload")
                    index_files = gr.Button("Index uploaded files", variant="primary", elem_id="nr-index-files")
                    urls = gr.Textbox(label="Page or RSS/Atom feed URL(s)", placeholder="https://…", lines=2)
                    index_urls = gr.Button("Fetch and index", elem_id="nr-index-urls")
                    rescan_btn = gr.Button("Re-scan the articles folder", elem_id="nr-rescan")
                with gr.Column(), gr.Accordion("Paste an article", open=False):
                    p_title = gr.Textbox(label="Title", max_lines=1)
                    with gr.Row():
                        p_date = gr.Textbox(label="Date (YYYY-MM-DD)", max_lines=1)
                        p_outlet = gr.Textbox(label="Outlet", max_lines=1)
                    p_url = gr.Textbox(label="URL", max_lines=1)
                    p_text = gr.Textbox(label="Text", lines=8)
                    index_paste = gr.Button("Index pasted article")
            summary = gr.Markdown(elem_id="nr-summary")
            table = gr.Dataframe(headers=REPORT_HEADERS, interactive=False, wrap=True, elem_id="nr-report")
            with gr.Row():
                failed = gr.CheckboxGroup(label="No failed uploads", choices=[], elem_id="nr-failed", scale=4)
                remove = gr.Button("Remove ticked uploads", size="sm", elem_id="nr-remove-failed", scale=1)
            remove.click(h.remove, [failed], [failed], api_visibility="private")
            with gr.Accordion("Feeds", open=bool(settings.feeds.urls)):
                feeds = gr.Markdown(elem_id="nr-feeds")
                poll = gr.Button("Poll feeds now", size="sm", elem_id="nr-poll-feeds",
                                 interactive=bool(settings.feeds.urls))
            index_outputs = [table, summary, stats, outlets, failed]
            poll.click(h.poll, None, [*index_outputs, feeds], api_name="poll_feeds")
            gr.Timer(30).tick(h.feeds, None, [feeds], api_visibility="private")  # the server's own polls show up
            index_files.click(upload, [files], index_outputs, api_name="ingest_files")
            index_urls.click(fetch, [urls], index_outputs, api_name="ingest_urls")
            index_paste.click(paste, [p_title, p_date, p_outlet, p_url, p_text], index_outputs, api_name="ingest_text")
            rescan_btn.click(rescan, None, index_outputs, api_name="rescan")
        gr.api(h.answer_api, api_name="answer")
        app.load(h.overview, None, [stats, outlets], api_visibility="private")
        app.load(h.failed, None, [failed], api_visibility="private")
        app.load(h.feeds, None, [feeds], api_visibility="private")
    return app
