"""Saved chats in the page: every conversation is a chat of :class:`rag.chats.ChatStore`, listed in a sidebar.

Invariants:

* The first answered question creates the chat (a short unique name from the question); each answer is saved with
  the settings and filters used. The browser keeps only the open chat's name (``gr.BrowserState``), so a reload or
  a server restart reopens it from the store; ``?chat=NAME`` in the URL opens that chat instead.
* The owner is the logged-in user when ``[ui] auth_user`` is set, else "": the CLI's owner, so its chats show here.
* A store that cannot be used (damaged, locked, read-only) shows as a warning; asking still works, unsaved.
"""

from __future__ import annotations

import logging
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.chats import ChatStore, Rating, snapshot
from rag.config import Settings
from rag.errors import NewsragError
from rag.schema import Answer
from ui import render
from ui.errors import told

log = logging.getLogger(__name__)

STORAGE_KEY = "newsrag-chat"
# The browser stores only the open chat's name, which the server scopes by owner anyway; a fixed secret (Gradio
# draws a random one per process) lets a restarted server read it back.
STORAGE_SECRET = "newsrag-open-chat"
AUTO_NAME = re.compile(r"^chat-[a-z0-9-]*-[0-9a-f]{6}$")
EMPTY: tuple[Any, ...] = ([], "", [], {}, "", {})  # no chat open: conversation, panel, history, blocks, name, turns


def new_name(question: str) -> str:
    """A short unique chat name from the first question: ``chat-<first words>-<6 hex digits>``."""
    words = "-".join(re.findall(r"[a-z0-9]+", question.lower())[:4])[:32].strip("-")
    return f"chat-{words}-{secrets.token_hex(3)}"


def chat_label(name: str, title: str, updated: float) -> str:
    """How a chat reads in the sidebar: its title (its name too once renamed or made by the CLI) and its date."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(updated))
    head = title or name if AUTO_NAME.match(name) else f"{name}: {title}" if title else name
    return f"{head} · {when}"


class Chats:
    """The event functions of the saved chats; each opens the owner's store for the length of one call."""

    def __init__(self, settings: Settings, handlers: Any) -> None:
        self.settings = settings
        self.handlers = handlers  # ui.app.Handlers: its ``stream`` answers
        self.exports = Path(tempfile.mkdtemp(prefix="newsrag-exports-"))

    def store(self, request: gr.Request | None) -> ChatStore:
        owner = (getattr(request, "username", None) or "") if self.settings.ui.auth_user else ""
        return ChatStore(self.settings.chats_path, owner=owner)

    # -- asking --------------------------------------------------------------------------------

    def chat(self, message: str, history: list[dict[str, Any]], turns: list[list[str]], panels: dict[str, str],
             since: str, until: str, outlets: list[str] | None, provider: str, top_k: float, name: str,
             positions: dict[str, int], request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """Answer (``Handlers.stream``) and save the answer as the next turn of chat ``name`` (started if "")."""
        positions = dict(positions or {})
        for shown, sources, said, blocks, answer in self.handlers.stream(message, history, turns, panels, since,
                                                                         until, outlets, provider, top_k):
            if answer is not None:
                name, turn = self.save(request, name, answer, provider, top_k)
                if turn:
                    positions[str(len(shown) - 1)] = turn
            yield shown, sources, said, blocks, "", name, positions

    def save(self, request: gr.Request | None, name: str, answer: Answer, provider: str,
             top_k: float) -> tuple[str, int]:
        """The chat's name (new if ``name`` is "") and the turn number saved (0 when the store failed)."""
        name = name or new_name(answer.question)
        try:
            with self.store(request) as store:
                return name, store.append_turn(name, answer, snapshot(self.settings, provider or None,
                                                                      int(top_k or 0) or None))
        except NewsragError as exc:
            gr.Warning(f"This answer was not saved: {exc}")
            return name, 0

    # -- the sidebar ---------------------------------------------------------------------------

    def sidebar(self, name: str, request: gr.Request) -> tuple[Any, Any]:
        """The chat list (newest first, ``name`` selected) and the Markdown export of ``name``."""
        try:
            with self.store(request) as store:
                items = store.list_chats()
                path = self._export(store, name) if name and store.exists(name) else None
        except NewsragError as exc:
            gr.Warning(str(exc))
            return gr.update(choices=[], value=None), gr.update(value=None, interactive=False)
        choices = [(chat_label(c.name, c.title, c.updated), c.name) for c in items]
        return (gr.update(choices=choices, value=name if path else None),
                gr.update(value=str(path) if path else None, interactive=path is not None))

    def _export(self, store: ChatStore, name: str) -> Path:
        path = self.exports / (re.sub(r"[^\w.-]+", "_", name)[:80] + ".md")
        path.write_text(store.export_markdown(name), encoding="utf-8")
        return path

    def open(self, name: str, request: gr.Request) -> tuple[Any, ...]:
        """Chat ``name`` as it was left: its questions and answers, each answer's sources (the last one's shown),
        the history."""
        history: list[dict[str, str]] = []
        positions: dict[str, int] = {}
        panels: dict[str, str] = {}
        turns: list[list[str]] = []
        try:
            with self.store(request) as store:
                saved = store.answers(name) if name else []
                turns = [list(t) for t in store.history(name)] if saved else []
        except NewsragError as exc:
            gr.Warning(str(exc))
            saved = []
        for turn, answer in saved:
            key = len(history) + 1  # the place of its answer in the conversation, as when it was asked
            history += [{"role": "user", "content": answer.question},
                        {"role": "assistant", "content": render.answer_markdown(answer, key)}]
            positions[str(key)] = turn
            panels[str(key)] = render.sources_html(answer, key)
        return history, render.sources_panel(panels), turns, panels, name if saved else "", positions

    def load(self, stored: str | None, request: gr.Request) -> tuple[Any, ...]:
        """On page load: the chat named in the URL (``?chat=``), else the one this browser had open."""
        wanted = dict(request.query_params).get("chat") if request is not None else None
        if not (wanted or stored):
            return tuple(gr.skip() for _ in range(6))  # leaves alone what was asked while the page loaded
        return self.open(wanted or stored or "", request)

    def rename(self, name: str, new: str, request: gr.Request) -> tuple[str, str]:
        if not name:
            raise told("Open a chat to rename it.")
        try:
            with self.store(request) as store:
                store.rename(name, new)
        except NewsragError as exc:
            raise told(str(exc)) from exc
        return " ".join(new.split()), ""

    def delete(self, name: str, request: gr.Request) -> tuple[Any, ...]:
        if not name:
            raise told("Open a chat to delete it.")
        try:
            with self.store(request) as store:
                store.delete(name)
        except NewsragError as exc:
            raise told(str(exc)) from exc
        return EMPTY

    def like(self, name: str, positions: dict[str, int], data: gr.LikeData, request: gr.Request) -> Any:
        """Thumbs up or down on an answer, saved on its turn; the (turn, rating) a comment then goes with."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        turn = (positions or {}).get(str(index))
        if data.liked not in (True, False):
            return gr.skip()
        if not name or not turn:
            gr.Warning("This answer was not saved, so it cannot be rated.")
            return gr.skip()
        rating: Rating = "up" if data.liked else "down"
        try:
            with self.store(request) as store:
                store.feedback(name, turn, rating)
        except NewsragError as exc:
            gr.Warning(str(exc))
            return gr.skip()
        gr.Info("Feedback saved: add a comment in the sidebar if you like.")
        return [turn, rating]

    def comment(self, name: str, rated: list[Any] | None, text: str, request: gr.Request) -> str:
        """A comment on the answer rated last, stored with its rating."""
        if not name or not rated:
            raise told("Rate an answer first (thumbs up or down under it), then comment on it.")
        try:
            with self.store(request) as store:
                store.feedback(name, int(rated[0]), "up" if rated[1] == "up" else "down", " ".join(text.split()))
        except NewsragError as exc:
            raise told(str(exc)) from exc
        gr.Info("Comment saved.")
        return ""


def build(app: Any, settings: Settings, handlers: Any, chatbot: Any, sources: Any, turns: Any, panels: Any, box: Any,
          send: Any, examples: Any, chat_inputs: list[Any]) -> None:
    """The sidebar of saved chats and the chat's events; call inside ``app``'s Blocks, after the chat components.
    A click on one of ``examples`` (a ``gr.Examples`` filling ``box``) asks it."""
    c = Chats(settings, handlers)
    name = gr.BrowserState("", storage_key=STORAGE_KEY, secret=STORAGE_SECRET)
    positions = gr.State({})
    rated = gr.State(None)  # [turn, "up" | "down"] of the answer rated last
    with gr.Sidebar(label="Chats", open=True, elem_id="nr-sidebar"):
        new = gr.Button("New chat", variant="primary", size="sm", elem_id="nr-new-chat")
        listing = gr.Radio(label="Saved chats, newest first", choices=[], elem_id="nr-chats")
        with gr.Accordion("This chat", open=True):
            new_title = gr.Textbox(label="New name", max_lines=1, elem_id="nr-rename-text")
            with gr.Row():
                rename = gr.Button("Rename", size="sm", elem_id="nr-rename")
                delete = gr.Button("Delete", size="sm", variant="stop", elem_id="nr-delete")
            export = gr.DownloadButton("Download (Markdown)", size="sm", interactive=False, elem_id="nr-export")
            remark = gr.Textbox(label="Comment on the answer you rated last", lines=2, elem_id="nr-comment")
            send_remark = gr.Button("Save comment", size="sm", elem_id="nr-save-comment")
    shown = [chatbot, sources, turns, panels, name, positions]
    inputs = [*chat_inputs, name, positions]
    outputs = [chatbot, sources, turns, panels, box, name, positions]
    quiet: dict[str, Any] = {"api_visibility": "private"}
    for event in (box.submit(c.chat, inputs, outputs, api_name="chat"),
                  send.click(c.chat, inputs, outputs, **quiet),
                  examples.load_input_event.then(c.chat, inputs, outputs, **quiet),
                  new.click(lambda: EMPTY, None, shown, **quiet),
                  chatbot.clear(lambda: EMPTY, None, shown, **quiet),  # its bin starts a new chat
                  listing.input(c.open, [listing], shown, **quiet),
                  rename.click(c.rename, [name, new_title], [name, new_title], **quiet),
                  delete.click(c.delete, [name], shown, **quiet),
                  app.load(c.load, [name], shown, **quiet)):
        event.then(c.sidebar, [name], [listing, export], **quiet)
    chatbot.like(c.like, [name, positions], [rated], **quiet)
    send_remark.click(c.comment, [name, rated, remark], [remark], **quiet)
