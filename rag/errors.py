"""Domain errors: each carries a message a user can act on.

The CLI prints them and exits non-zero; the UI shows them as warnings. Anything
else that escapes is a bug and is logged with its traceback.
"""

from __future__ import annotations


class NewsragError(Exception):
    """Base class for errors whose message is meant for the user."""


class InputError(NewsragError):
    """What the user typed or named cannot be used: a question, a flag, a date, a questions file. The CLI exits 2."""


class ConfigError(NewsragError):
    """A setting is unknown, has the wrong type or an invalid value."""


class LoadError(NewsragError):
    """An article file could not be read or holds no article."""


class StoreError(NewsragError):
    """The index (Chroma) cannot be opened, read or written."""


class EmptyIndexError(NewsragError):
    """A question was asked before any article was indexed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "No articles indexed yet: run `newsrag ingest data/articles` (or add articles in the UI's Index tab)."
        )


class ModelError(NewsragError):
    """A language model could not be loaded or reached, or failed mid-answer."""
