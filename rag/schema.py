"""The typed records that flow between stages: files -> Article -> Chunk -> (index) -> Hit -> Answer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Literal


def sha1_hex(text: str, length: int = 16) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def date_key(day: date) -> int:
    """A date as an integer YYYYMMDD: ordered, so Chroma ``$gte``/``$lte`` filters select ranges."""
    return day.year * 10000 + day.month * 100 + day.day


def date_from_key(key: int) -> date:
    return date(key // 10000, key // 100 % 100, key % 100)


@dataclass(frozen=True)
class Article:
    """One news article after loading and cleaning.

    ``text`` is the cleaned body; chunk offsets and citation spans index into it.
    ``key`` is what identifies the article across runs: its canonical URL when it
    has one, else its source file (plus a position for multi-article files).
    """

    key: str
    title: str
    text: str
    source: str
    published: date | None = None
    outlet: str = ""
    url: str = ""

    @property
    def id(self) -> str:
        return "a" + sha1_hex(self.key)

    def content_hash(self, fingerprint: str = "") -> str:
        """Hash of everything that ends up in the index, plus the chunking/embedding fingerprint."""
        parts = [self.title, self.text, self.published.isoformat() if self.published else "",
                 self.outlet, self.url, fingerprint]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]

    def text_hash(self) -> str:
        """Hash of the body alone: two files with the same body are the same article (an alias)."""
        return hashlib.sha256(" ".join(self.text.split()).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Chunk:
    """A piece of an article that fits the embedding model.

    ``start``/``end`` are character offsets into ``Article.text``; ``embed_text``
    is what the model sees (the title prefix plus the text).
    """

    id: str
    article_id: str
    position: int
    text: str
    start: int
    end: int
    embed_text: str
    n_tokens: int


Outcome = Literal["added", "updated", "unchanged", "duplicate", "failed", "removed"]


@dataclass(frozen=True)
class ArticleReport:
    """What happened to one article (or one file that yielded no article) in an ingest run."""

    source: str
    outcome: Outcome
    title: str = ""
    article_id: str = ""
    chunks: int = 0
    reason: str = ""


@dataclass(frozen=True)
class IngestReport:
    items: tuple[ArticleReport, ...] = ()
    seconds: float = 0.0
    chunks_embedded: int = 0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.items if item.outcome == outcome)

    @property
    def totals(self) -> dict[str, int]:
        return {o: self.count(o) for o in ("added", "updated", "unchanged", "duplicate", "failed", "removed")}

    @property
    def failed(self) -> bool:
        return self.count("failed") > 0


@dataclass(frozen=True)
class IndexStats:
    articles: int
    chunks: int
    aliases: int
    outlets: tuple[tuple[str, int], ...]
    first_date: date | None
    last_date: date | None
    location: str
    embedding_model: str
    extra: dict[str, str] = field(default_factory=dict)
