"""How the page tells a person that what they asked for cannot be done: a Gradio error whose message is shown in
the page and that is not a traceback in the server's log (it is not a bug). Anything unexpected still is."""

from __future__ import annotations

from typing import Any

import gradio as gr


def told(message: str) -> gr.Error:
    """The error to raise from an event function for ``message``: shown to the user, not logged as a traceback."""
    return gr.Error(message, print_exception=False)


def quiet(component: Any) -> Any:
    """``component``, whose own check of a value (a slider's bounds: only a client of the API can send a value
    past them) is told as a message like every other input that cannot be used, instead of Gradio's error with a
    traceback in the log. (An instance attribute: a subclass of a Gradio component writes a ``.pyi`` file beside
    its module when it is defined.)"""
    check = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return check(payload)
        except gr.Error as exc:
            raise told(str(exc.message)) from None

    component.preprocess = preprocess
    return component
