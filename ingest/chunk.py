"""Token-aware splitting on paragraph and sentence boundaries, with overlap.

LangChain's ``RecursiveCharacterTextSplitter`` measures length with the
embedding model's own tokenizer. Every chunk, title prefix and the two special
tokens included, fits ``[embed] max_tokens``: a chunk that would not is split
again, so the model never silently truncates anything.

Time and memory stay linear in the text whatever its line structure (a 19 MB file on
one line used to take 10 minutes and 2.8 GB, most of it in tokenizing that line whole):

* no text longer than :attr:`Chunker.long_chars` is ever tokenized: it counts as over
  every budget (``len(text)``, an upper bound: a word piece covers at least one
  character), so it is split further and its pieces are counted instead;
* a text longer than :data:`WINDOW_CHARS` is cut into windows at a paragraph, sentence,
  line or word break (a hard cut only in a window with none) and each window is split
  on its own, so the splitter's lists are bounded; texts shorter than a window, i.e.
  nearly every article, are chunked exactly as before;
* counts are asked of the tokenizer in batches of at most :data:`BATCH_CHARS` characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence

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
_WINDOW_BREAKS = (re.compile(r"\n\s*\n"), re.compile(SENTENCE_BOUNDARY), re.compile(r"\n"), re.compile(r"\s"))
CACHE_SIZE = 65536
LONG_CHARS_PER_TOKEN = 40  # a text over max_tokens * this many characters is never tokenized whole
WINDOW_CHARS = 100_000  # texts longer than this are chunked window by window
BATCH_CHARS = 1_000_000  # the most characters handed to the tokenizer in one batch


def windows(text: str, size: int = WINDOW_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) covering ``text`` in order, each at most ``size`` characters, cut at the best break
    in a piece's second half: a paragraph, else a sentence, a line, a space; else exactly at ``size``."""
    out: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > size:
        end = start + size
        for pattern in _WINDOW_BREAKS:
            found = [m.end() for m in pattern.finditer(text, start + size // 2, end)]
            if found:
                end = found[-1]
                break
        out.append((start, text[start:end]))
        start = end
    out.append((start, text[start:]))
    return out


class Chunker:
    """Splits articles into :class:`Chunk` records that fit the embedding model."""

    def __init__(self, settings: ChunkSettings, count_tokens: Callable[[str], int], max_tokens: int,
                 count_many: Callable[[Sequence[str]], list[int]]) -> None:
        self.settings = settings
        self.count_one = count_tokens
        self.count_many = count_many
        self.max_tokens = max_tokens
        self.long_chars = max_tokens * LONG_CHARS_PER_TOKEN
        # The splitter measures every sentence, some of them again while merging: remember the counts.
        self.counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        """Tokens of ``text``; ``len(text)`` (over every budget) for a text too long to tokenize."""
        if len(text) > self.long_chars:
            return len(text)
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
            # text, separator, text, ...: the separator stays with its sentence; a longer text warms
            # each later window as the splitter reaches it
            parts = _SENTENCES.split(text[:WINDOW_CHARS])
            sentences += [a + b for a, b in zip(parts[::2], [*parts[1::2], ""])]
        self._count_all(sentences)

    def _count_all(self, texts: Sequence[str]) -> None:
        todo = list(dict.fromkeys(s for s in texts if s and len(s) <= self.long_chars and s not in self.counts))
        todo = todo[: CACHE_SIZE // 2]
        if len(self.counts) + len(todo) > CACHE_SIZE:
            self.counts.clear()
        batch: list[str] = []
        size = 0
        for text in [*todo, ""]:
            if batch and (not text or size + len(text) > BATCH_CHARS):
                self.counts.update(zip(batch, self.count_many(batch)))
                batch, size = [], 0
            batch.append(text)
            size += len(text)

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

    def _pieces(self, text: str, budget: int) -> Iterator[tuple[int, str]]:
        """(offset into ``text``, piece) for every piece, window by window (see the module docstring)."""
        for base, window in windows(text):
            if base:
                self.warm([window])
            cursor = 0
            for piece in self._split(window, budget):
                start = window.find(piece, cursor)
                if start < 0:
                    start = window.find(piece)
                cursor = start + 1
                yield base + start, piece

    def split(self, article: Article, article_hash: str) -> list[Chunk]:
        """Chunks of ``article`` with character offsets into ``article.text``."""
        prefix = self.title_prefix(article.title)
        prefix_tokens = self.count(prefix) if prefix else 0
        budget = min(self.settings.chunk_tokens, self.max_tokens - SPECIAL_TOKENS - prefix_tokens)
        chunks: list[Chunk] = []
        for position, (start, piece) in enumerate(self._pieces(article.text, budget)):
            end = start + len(piece)
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
                )
            )
        return chunks
