"""What each Chroma row holds: the manifest's record of an article, and a chunk's metadata.

An article counts as indexed only when its record's status is ``done``: then exactly ``chunks`` chunks
carry its id and ``hash``. ``pending`` marks a version being written (``pending_hash``,
``pending_chunks``), which :meth:`rag.store.Store.recover` rolls forward or back after a kill. ``alias``
marks an article whose body text is identical to the done article ``alias_of``: it has no chunks of its
own, and an ingest run never ends with an alias whose original is gone or holds other text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rag.schema import Article, Chunk, date_key, outlet_key

Status = Literal["pending", "done", "alias"]


@dataclass(frozen=True)
class ArticleRecord:
    """The manifest's record of one article (see the module docstring)."""

    id: str
    key: str
    source: str
    title: str = ""
    outlet: str = ""
    url: str = ""
    published: str = ""  # ISO date or ""
    status: Status = "pending"
    hash: str = ""  # content hash of the last completely indexed version ("" if none)
    pending_hash: str = ""  # content hash being written while status == "pending"
    pending_chunks: int = 0  # how many chunks that version has
    text_hash: str = ""
    chunks: int = 0
    alias_of: str = ""
    updated: float = 0.0

    @classmethod
    def from_metadata(cls, id: str, meta: Mapping[str, Any]) -> ArticleRecord:
        fields = cls.__dataclass_fields__
        return cls(id=id, **{k: v for k, v in meta.items() if k in fields and k != "id"})

    def metadata(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("id")
        return data


TEXT_KEY = "text"  # the chunk text, in its metadata


def chunk_text(document: str | None, meta: Mapping[str, Any]) -> str:
    """A chunk's text: in its metadata, or (indexes written by earlier newsrag versions) its Chroma document."""
    return str(meta.get(TEXT_KEY) or document or "")


def column(got: Mapping[str, Any], field: str) -> list[Any]:
    """One included field of a Chroma ``get``, a None per id where Chroma has none (new chunks have no document)."""
    return list(got.get(field) or [None] * len(got["ids"]))


def chunk_metadata(chunk: Chunk, article: Article, article_hash: str, story: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {
        "article_id": article.id,
        "article_hash": article_hash,
        "position": chunk.position,
        "start": chunk.start,
        "end": chunk.end,
        "title": article.title,
        "outlet": article.outlet,
        "outlet_key": outlet_key(article.outlet),
        "url": article.url,
        "source": article.source,
        "published": article.published.isoformat() if article.published else "",
    }
    if article.published:
        meta["published_key"] = date_key(article.published)
    if story:
        meta["story"] = story  # the id of the article's story (rag/stories.py)
    return meta
