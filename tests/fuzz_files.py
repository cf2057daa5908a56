"""Hypothesis strategies for the files users drop into the articles folder (PDF and DOCX too: random bytes
behind their magic header, good files truncated, spliced or with bytes overwritten, giant texts), and the
property every loader keeps on them. Used by tests/test_fuzz_loaders.py (a bounded run in CI) and
bench/fuzz_loaders.py (long runs).

The property (:func:`check`): reading a file (and chunking what it yields) ends within :data:`TIME_LIMIT`
seconds, either with articles whose every string encodes as UTF-8 and hashes, whose chunks fit the model
and point into the text, or with a :class:`LoadError` whose reason is a non-empty sentence. Any other
exception, or running over the limit, is a failure.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from ingest.chunk import SPECIAL_TOKENS, Chunker
from ingest.load import LoadedFile, load_file
from rag.config import EmbedSettings, Settings
from rag.embed import Tokenizer, model_path
from rag.errors import LoadError

from .doc_files import make_docx, make_pdf

SUFFIXES = (".txt", ".md", ".html", ".json", ".jsonl", ".pdf", ".docx")
BINARY = (".pdf", ".docx")  # made by tests/doc_files.py; damaged as bytes, never re-encoded
MAGIC = {".pdf": b"%PDF-1.4\n", ".docx": b"PK\x03\x04"}
TIME_LIMIT = 20.0  # seconds per file, reading and chunking; the largest generated file takes about 2 s
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "shift_jis", "koi8-r")

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
prose = st.lists(words, min_size=1, max_size=80).map(" ".join)
junk = st.sampled_from(["\x00", "\\ud83d", "\ud83d", "\r", "\x1b[31m", "\u202e", "\ufeff", "\u2028", "\\", '"', "<", "}"])


@st.composite
def article_file(draw: st.DrawFn, suffix: str) -> bytes:
    """A well-formed file of this type, from random title, body, date and URL."""
    title, body = draw(prose), draw(prose)
    day = draw(st.sampled_from(["2023-09-05", "05/09/2023", "09/25/2023", "Sept 5, 2023", "", "not a date", "5"]))
    url = draw(st.sampled_from(["", "https://www.bbc.co.uk/news/x", "https://x.example/2023/09/05/y", "ftp://x"]))
    record = {"title": title, "text": body, "published": day, "url": url}
    if suffix in BINARY:
        return _document(suffix, title, body, day)
    if suffix == ".txt":
        text = f"date {day} {title}\n\n{body}" if draw(st.booleans()) else f"Title: {title}\nDate: {day}\nURL: {url}\n\n{body}"
    elif suffix == ".md":
        text = f"---\ntitle: {title}\ndate: {day}\nurl: {url}\n---\n# {title}\n\n{body}\n"
    elif suffix == ".html":
        text = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{body}</p></article></body></html>"
    elif suffix == ".json":
        text = json.dumps(draw(st.sampled_from([record, [record, record], {"articles": [record]}])))
    else:
        text = "\n".join(json.dumps({**record, "url": draw(st.sampled_from([url, "https://x.example/1"]))})
                         for _ in range(draw(st.integers(1, 4))))
    return text.encode("utf-8", "surrogatepass")


def _document(suffix: str, title: str, body: str, day: str, pages: int = 2) -> bytes:
    """A PDF (``pages`` pages of the body's words) or a DOCX of this title and body; the date as a dateline."""
    if suffix == ".pdf":
        words = body.split()
        step = max(1, len(words) // pages)
        return make_pdf([[title, day]] + [[" ".join(words[i:i + 12]) for i in range(at, at + step, 12)]
                                          for at in range(0, len(words), step)], title=title, created="D:" + day)
    xml_safe = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    return make_docx([xml_safe.sub("", f"{day} {body}")], heading=xml_safe.sub("", title))


@st.composite
def magic(draw: st.DrawFn, suffix: str) -> bytes:
    """Random bytes behind the format's magic header."""
    return MAGIC[suffix] + draw(st.binary(max_size=4096))


@st.composite
def mutated(draw: st.DrawFn, suffix: str) -> bytes:
    """A good document with random bytes overwritten."""
    data = bytearray(draw(article_file(suffix)))
    for _ in range(draw(st.integers(1, 20))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def damaged(draw: st.DrawFn, suffix: str) -> bytes:
    """A good file truncated, or with junk spliced in at random places."""
    data = draw(article_file(suffix))
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(junk).encode("utf-8", "surrogatepass") + data[at:]
    return data


@st.composite
def odd_encoding(draw: st.DrawFn, suffix: str) -> bytes:
    text = draw(article_file(suffix)).decode("utf-8", "surrogatepass")
    return text.encode(draw(st.sampled_from(ENCODINGS)), "replace")


@st.composite
def giant(draw: st.DrawFn, suffix: str, max_chars: int) -> bytes:
    """One field or one line of up to ``max_chars`` characters."""
    size = draw(st.integers(10_000, max_chars))
    unit = draw(st.sampled_from(["word ", "Sentence here. ", "x", "é", "\U0001f600", "a\u0301", "<b>", "\\n"]))
    field = (unit * (size // len(unit) + 1))[:size]
    if suffix in BINARY:
        return _document(suffix, "Giant", field, "2023-09-05", pages=draw(st.integers(1, 40)))
    if suffix in (".json", ".jsonl"):
        return json.dumps({"title": "Giant", "text": field}).encode()
    if suffix == ".html":
        return f"<html><body><article><p>{field}</p></article></body></html>".encode()
    return ("Giant\n\n" + field if draw(st.booleans()) else field).encode()


@st.composite
def nested(draw: st.DrawFn, suffix: str) -> bytes:
    depth = draw(st.integers(10, 100_000))
    if suffix in (".json", ".jsonl"):
        inner = draw(st.sampled_from(['"x"', '{"text": "deep body text"}']))
        return ('{"text": ' + "[" * depth + inner + "]" * depth + "}").encode()
    if suffix == ".html":
        return ("<html><body>" + "<div>" * depth + "words " * 50 + "</div>" * depth + "</body></html>").encode()
    return ("> " * min(depth, 20_000) + "quoted words\n" + "* " * min(depth, 20_000) + "item\n").encode()


def files(max_chars: int = 200_000) -> st.SearchStrategy[tuple[str, bytes]]:
    """(suffix, bytes) of every kind above, plus plain random bytes."""
    def of(suffix: str) -> st.SearchStrategy[bytes]:
        if suffix in BINARY:
            return st.one_of(st.binary(max_size=2048), magic(suffix), article_file(suffix), damaged(suffix),
                             mutated(suffix), giant(suffix, max_chars))
        return st.one_of(st.binary(max_size=2048), article_file(suffix), damaged(suffix), odd_encoding(suffix),
                         giant(suffix, max_chars), nested(suffix))

    return st.sampled_from(SUFFIXES).flatmap(lambda s: st.tuples(st.just(s), of(s)))


class TooSlow(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TooSlow` in this (main) thread after ``seconds``."""
    def expire(signum: int, frame: object) -> None:
        raise TooSlow(f"over {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    loaded: LoadedFile | None
    reason: str
    seconds: float


_TOKENIZER: list[Tokenizer] = []


def chunker() -> Chunker:
    if not _TOKENIZER:
        _TOKENIZER.append(Tokenizer(model_path(EmbedSettings())))
    tok = _TOKENIZER[0]
    return Chunker(Settings().chunk, tok.count, 256, tok.count_batch)


def check(path: Path) -> Outcome:
    """Load and chunk ``path``, asserting the property in the module docstring."""
    started = time.perf_counter()
    with time_limit(TIME_LIMIT):
        try:
            loaded = load_file(path, max_bytes=50_000_000)
        except LoadError as exc:
            reason = str(exc)
            assert reason.strip(), "a rejected file needs a reason"
            return Outcome(None, reason, time.perf_counter() - started)
        assert loaded.articles, "a loaded file holds at least one article"
        assert all(reason.strip() for _, reason in loaded.errors)
        splitter = chunker()
        for article in loaded.articles:
            assert article.text.strip() and article.title.strip()
            for value in (article.key, article.title, article.text, article.source, article.outlet, article.url,
                          article.note):
                value.encode("utf-8")
            article.content_hash()
            for piece in splitter.split(article, article.id):
                assert SPECIAL_TOKENS <= splitter.count(piece.embed_text) + SPECIAL_TOKENS <= 256
                assert article.text[piece.start : piece.end] == piece.text
    return Outcome(loaded, "", time.perf_counter() - started)
