"""Gradio app: layout and event wiring only; every action calls rag.service or ingest.index."""

from __future__ import annotations

import os

from rag.config import Settings

# Gradio reads this when it is imported: no usage analytics leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def stats_markdown(settings: Settings) -> str:
    from rag.embed import get_embedder
    from rag.store import open_store

    stats = open_store(settings, get_embedder(settings.embed).name).stats()
    span = f"{stats.first_date} to {stats.last_date}" if stats.first_date else "no dated articles"
    return (f"**{stats.articles}** articles, **{stats.chunks}** chunks, {len(stats.outlets)} outlets, {span}  \n"
            f"Index: `{stats.location}`, embeddings: `{stats.embedding_model}`")


def build_app(settings: Settings):  # type: ignore[no-untyped-def]
    import gradio as gr

    with gr.Blocks(title="newsrag") as app:
        gr.Markdown("# newsrag\nQuestions answered from your news articles, with citations.")
        stats = gr.Markdown()
        app.load(lambda: stats_markdown(settings), outputs=stats)
    return app


def serve(settings: Settings, open_browser: bool = False) -> None:
    app = build_app(settings)
    app.queue().launch(
        server_name=settings.ui.host,
        server_port=settings.ui.port or None,
        inbrowser=open_browser,
        show_error=True,
    )
