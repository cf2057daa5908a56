"""Chunking a huge article stays linear whatever its line structure (issue 15, item 7).

A 19 MB file on one line took over 10 minutes and 2.8 GB: the tokenizer was handed the whole line
(about 140 bytes of memory per character). These tests count what the tokenizer is asked to read,
never the wall clock: no single text over the chunker's ``long_chars``, and a total proportional to
the text, with the same ratio at two sizes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from ingest.chunk import SPECIAL_TOKENS, WINDOW_CHARS, Chunker, windows
from rag.config import EmbedSettings, Settings
from rag.embed import Tokenizer, model_path
from rag.schema import Article

pytestmark = pytest.mark.unit

WORDS = ["the", "council", "said", "on", "monday", "that", "new", "port", "rules", "would", "apply", "to",
         "ships", "and", "ferries", "from", "next", "year"]


def one_line(kind: str, size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    if kind == "no spaces":
        return "".join(rng.choice("abcdefghij") for _ in range(size))
    parts: list[str] = []
    total = 0
    while total < size:
        words = [rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(rng.randint(6, 30))]
        part = " ".join(words) + (". " if kind == "sentences" else " ")
        parts.append(part.capitalize() if kind == "sentences" else part)
        total += len(part)
    text = "".join(parts)
    return text.replace(". ", ".\n") if kind == "short lines" else text.strip()


class Counting:
    """The real tokenizer, with a record of every text it is asked to count."""

    def __init__(self) -> None:
        self.tokenizer = Tokenizer(model_path(EmbedSettings()))
        self.longest = 0
        self.total = 0

    def _seen(self, texts: Sequence[str]) -> None:
        self.longest = max([self.longest, *map(len, texts)])
        self.total += sum(map(len, texts))

    def one(self, text: str) -> int:
        self._seen([text])
        return self.tokenizer.count(text)

    def many(self, texts: Sequence[str]) -> list[int]:
        self._seen(texts)
        return self.tokenizer.count_batch(texts)


@pytest.fixture(scope="module")
def counting() -> Counting:
    return Counting()


def chunk(text: str, counting: Counting):
    counting.longest = counting.total = 0
    chunker = Chunker(Settings().chunk, counting.one, 256, counting.many)
    article = Article(key="file:big.txt", title="A title of a few words", text=text, source="big.txt")
    chunker.warm([text])
    return chunker, chunker.split(article, "hash")


@pytest.mark.parametrize("kind", ["words", "sentences", "no spaces", "short lines"])
def test_a_huge_one_line_article_is_chunked_within_limits_and_never_tokenized_whole(kind, counting):
    text = one_line(kind, 3 * WINDOW_CHARS + 12_345)
    chunker, chunks = chunk(text, counting)
    assert chunks and all(counting.tokenizer.count(c.embed_text) + SPECIAL_TOKENS <= 256 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    covered = sum(len(c.text) for c in chunks)
    assert covered >= len(text.replace(" ", "").replace("\n", "")) * 0.9  # overlap aside, everything is kept
    assert counting.longest <= chunker.long_chars  # before: the whole 300 KB line went to the tokenizer
    assert counting.total <= 5 * len(text)


def test_tokenizer_work_grows_linearly(counting):
    small, big = one_line("words", 150_000), one_line("words", 600_000)
    chunk(small, counting)
    per_char_small = counting.total / len(small)
    chunk(big, counting)
    per_char_big = counting.total / len(big)
    assert per_char_big <= per_char_small * 1.25


def test_windows_cover_the_text_and_cut_at_breaks():
    text = one_line("sentences", 250_000)
    parts = windows(text, 50_000)
    assert "".join(p for _, p in parts) == text
    assert all(text[o : o + len(p)] == p for o, p in parts) and all(len(p) <= 50_000 for _, p in parts)
    assert all(p.endswith((". ", ".")) for _, p in parts[:-1])
    solid = "x" * 120_000
    assert [len(p) for _, p in windows(solid, 50_000)] == [50_000, 50_000, 20_000]
    assert windows("short", 50_000) == [(0, "short")]
