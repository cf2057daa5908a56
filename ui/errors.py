"""How the page tells a person that what they asked for cannot be done: a Gradio error whose message is shown in
the page and that is not a traceback in the server's log (it is not a bug). Anything unexpected still is."""

from __future__ import annotations

import gradio as gr


def told(message: str) -> gr.Error:
    """The error to raise from an event function for ``message``: shown to the user, not logged as a traceback."""
    return gr.Error(message, print_exception=False)
