"""Token-aware splitting on paragraph and sentence boundaries, with overlap.

LangChain's ``RecursiveCharacterTextSplitter`` measures length with the
embedding model's own tokenizer. Every chunk, title prefix and the two special
tokens included, fits ``[embed] max_tokens``: a chunk that would not is split
again, so the model never silently truncates anything.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from rag.config import ChunkSettings
from rag.schema import Article, Chunk, sha1_hex
from rag.text import SENTENCE_BOUNDARY

SPECIAL_TOKENS = 2  # [CLS] and [SEP]

# Sentence ends and paragraph breaks first (so overlap is whole sentences), then lines,
# clauses, words and characters for sentences longer than a chunk.
SEPARATORS = [
    SENTENCE_BOUNDARY,
    r"\n",
    r"(?<=[;:]) ",
    r"(?<=,) ",
    r" ",
    r"",
]


_SENTENCES = re.compile(f"({SENTENCE_BOUNDARY})")
CACHE_SIZE = 65536


class Chunker:
    """Splits articles into :class:`Chunk` records that fit the embedding model."""

    def __init__(self, settings: ChunkSettings, count_tokens: Callable[[str], int], max_tokens: int,
                 count_many: Callable[[Sequence[str]], list[int]]) -> None:
        self.settings = settings
        self.count_one = count_tokens
        self.count_many = count_many
        self.max_tokens = max_tokens
        # The splitter measures every sentence, some of them again while merging: remember the counts.
        self.counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        n = self.counts.get(text)
        if n is None:
            if len(self.counts) >= CACHE_SIZE:
                self.counts.clear()
            n = self.counts[text] = self.count_one(text)
        return n

    def warm(self, texts: Sequence[str]) -> None:
        """Count the sentences of ``texts`` in one batch (the tokenizer runs it on every core), so
        splitting them afterwards mostly finds its counts ready."""
        sentences: list[str] = []
        for text in texts:
            parts = _SENTENCES.split(text)  # text, separator, text, ...: the separator stays with its sentence
            sentences += [a + b for a, b in zip(parts[::2], [*parts[1::2], ""])]
        self._count_all(sentences)

    def _count_all(self, texts: Sequence[str]) -> None:
        todo = list({s for s in texts if s and s not in self.counts})[: CACHE_SIZE // 2]
        if len(self.counts) + len(todo) > CACHE_SIZE:
            self.counts.clear()
        if todo:
            self.counts.update(zip(todo, self.count_many(todo)))

    @functools.lru_cache(maxsize=64)
    def _splitter(self, size: int, overlap: int):  # type: ignore[no-untyped-def]
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        return RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            is_separator_regex=True,
            keep_separator="end",
            chunk_size=size,
            chunk_overlap=min(overlap, size // 2),
            length_function=self.count,
            strip_whitespace=True,
        )

    def title_prefix(self, title: str) -> str:
        """The title as prepended to each chunk for embedding, cut to ``title_max_tokens``."""
        if not self.settings.title_prefix or not title or self.settings.title_max_tokens == 0:
            return ""
        words = title.split()
        while words and self.count(" ".join(words)) > self.settings.title_max_tokens:
            words.pop()
        return " ".join(words)

    def _split(self, text: str, budget: int) -> list[str]:
        """Pieces of ``text`` that each count at most ``budget`` tokens."""
        pieces: list[str] = []
        candidates = self._splitter(budget, self.settings.overlap_tokens).split_text(text)
        self._count_all(candidates)
        for piece in candidates:
            if self.count(piece) <= budget:
                pieces.append(piece)
            elif budget > 8:
                pieces.extend(self._split(piece, budget - max(4, budget // 8)))
            else:  # pathological; a word piece is at least one character, so this cut always fits
                pieces.extend(piece[i : i + budget] for i in range(0, len(piece), budget))
        return pieces

    def split(self, article: Article, article_hash: str) -> list[Chunk]:
        """Chunks of ``article`` with character offsets into ``article.text``."""
        prefix = self.title_prefix(article.title)
        prefix_tokens = self.count(prefix) if prefix else 0
        budget = min(self.settings.chunk_tokens, self.max_tokens - SPECIAL_TOKENS - prefix_tokens)
        chunks: list[Chunk] = []
        cursor = 0
        for position, piece in enumerate(self._split(article.text, budget)):
            start = article.text.find(piece, cursor)
            if start < 0:
                start = article.text.find(piece)
            end = start + len(piece)
            cursor = start + 1
            embed_text = f"{prefix}\n{piece}" if prefix else piece
            chunks.append(
                Chunk(
                    id=f"{article.id}-{position:04d}-{sha1_hex(article_hash + piece, 10)}",
                    article_id=article.id,
                    position=position,
                    text=piece,
                    start=start,
                    end=end,
                    embed_text=embed_text,
                    n_tokens=self.count(embed_text) + SPECIAL_TOKENS,
                )
            )
        return chunks
