"""The lexical index: BM25 over the same chunks as Chroma, kept in segments beside it.

It lives under ``index_dir/bm25/<collection>`` (the folder keeps the name it had when this module was
``rag/bm25.py``, so that an existing index is found):

* ``meta.json``, the commit: the store version the index reflects, the word splitter's version, the term
  file and how much of it counts, the segments oldest first, and a digest of all of that;
* ``terms-<lineage>.txt``, the vocabulary, one stemmed word per line, appended to and never rewritten
  (a term's id is its line number);
* ``seg-<name>.npz``, one segment: its chunks (ids, articles, outlets, date keys, lengths), their
  postings (term id -> chunk rows and counts), and the chunk ids its commit deleted from older segments.

An ingest adds one segment with the chunks it wrote, read back from Chroma by id, and naming the chunks it
deleted, so its cost follows the size of the update, not of the index (:meth:`LexicalIndex.updated`). A chunk
lives in the newest segment that holds it, unless a later commit deleted it. Scores are BM25 as bm25s
computes it (Lucene's idf, k1 1.5, b 0.75), with the chunk count, the average length and each word's
document frequency taken over the live chunks at query time, so a segmented index ranks exactly as one
built afresh. Past ``MAX_SEGMENTS`` segments, the newer ones are merged into one.

A save writes the new segment files and terms first and replaces ``meta.json`` last, so a kill at any point
leaves the previous commit whole; files no commit names are removed by the next save. The files check
themselves: ``meta.json`` carries a digest of its fields and of each segment's chunk columns, the postings
are CRC-checked by the zip they are stored in, and a load that finds anything wrong (see
:meth:`LexicalIndex.read`) rebuilds from Chroma and says what it found. An ingest that only adds a segment
reads the older segments' chunk columns but not their postings (most of the bytes), so it does not check
those: the next process or query that reads them does, before any search uses them.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import math
import os
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from filelock import FileLock

from rag import marker
from rag.commits import Replaced, commit, meta_digest, raise_if_replaced, read_newest, remove_unnamed
from rag.config import Settings
from rag.filters import FilterRule
from rag.schema import date_from_key
from rag.store import ChunkChanges, Store
from rag.text import terms

log = logging.getLogger(__name__)
SEVERAL = 3  # "today" is the newest date that at least this many articles reach ...
NEIGHBOURHOOD_DAYS = 30  # ... within this many days before it
K1, B = 1.5, 0.75  # bm25s's defaults, which the index was measured with
FORMAT = 3  # the files' layout: 3 = segments; an index saved in another layout is rebuilt
MAX_SEGMENTS = 12  # past this, a save merges the newer segments into one
FETCH = 2000  # chunks read back from Chroma per call when an update indexes what it wrote
MERGE_BLOCK = 4_000_000  # postings a merge places at a time: its memory beyond the merged segment (~100 MB)
COLUMNS = ("ids", "articles", "article_codes", "outlets", "outlet_codes", "dates", "lengths", "deleted")
POSTINGS = ("terms", "indptr", "rows", "tf")
ARRAYS = COLUMNS + POSTINGS  # what a segment's file holds


def robust_today(days: np.ndarray, now: date, several: int = SEVERAL,
                 within_days: int = NEIGHBOURHOOD_DAYS) -> date | None:
    """A corpus's "today" from its articles' days (ordinals, one per dated article, sorted): the newest day,
    ignoring days after ``now`` and days that fewer than ``several`` articles reach within ``within_days``
    (a lone misdated article cannot move it). None if no article is dated."""
    days = days[days <= now.toordinal()]
    if not len(days):
        return None
    need = min(several, len(days))
    for i in range(len(days) - 1, -1, -1):
        if i + 1 - np.searchsorted(days, days[i] - within_days) >= need:
            return date.fromordinal(int(days[i]))
    return date.fromordinal(int(days[-1]))


@functools.lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


#: The word splitter's version, saved with the index: an index built by another splitter is rebuilt, since its
#: words would not match the queries' ("Família" was "fam" + "lia" before version 2).
TOKENS = 2


def tokens(text: str, parts: bool = False) -> list[str]:
    """Stemmed content words: the BM25 vocabulary for documents and queries alike. With ``parts``, a hyphenated
    word also gives its parts ("state-run": "state", "run"): the answerer matches sentences so; the index does
    not (it cost Hit@1 on dev and h1: 0.809 -> 0.800, 0.683 -> 0.680)."""
    words = terms(text, parts)
    return _stemmer().stemWords(words) if words else []


# -- strings in numpy files: one UTF-8 blob, lines apart ------------------------------------------------


def _blob(strings: Sequence[str]) -> np.ndarray:
    return np.frombuffer("\n".join(s.replace("\n", " ") for s in strings).encode(), dtype=np.uint8)


def _unblob(blob: np.ndarray, n: int) -> list[str]:
    return blob.tobytes().decode().split("\n") if n else []


def _coded(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(distinct values, each value's position among them)."""
    table: dict[str, int] = {}
    codes = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int32, count=len(values))
    return list(table), codes


class Postings(NamedTuple):
    """A segment's postings: the postings of ``terms[i]`` are ``rows[indptr[i]:indptr[i + 1]]`` with their counts."""

    terms: np.ndarray  # int32 term ids with postings here, ascending
    indptr: np.ndarray  # int64, len(terms) + 1
    rows: np.ndarray  # int32
    tf: np.ndarray  # uint16 occurrences of the term in the row


@dataclass(eq=False)
class Segment:
    """One commit's chunks and postings. Rows are the segment's own; term ids are the index's."""

    name: str
    ids: list[str]
    article_table: list[str]
    article_codes: np.ndarray  # int32 per row
    outlet_table: list[str]
    outlet_codes: np.ndarray  # int32 per row
    dates: np.ndarray  # int32 date key per row, 0 = undated
    lengths: np.ndarray  # int32 words per row
    deleted: list[str]  # chunk ids this commit deleted from older segments
    postings_: Postings | None  # None until read from ``source`` (a lazy read): see all_postings
    saved: bool = False
    source: tuple[Path, int] | None = None  # (its file, the index's term count) while the postings are unread

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def loaded(self) -> bool:
        return self.postings_ is not None

    def all_postings(self) -> Postings:
        """The postings, read from the segment's file (and checked) on first use after a lazy read;
        ValueError saying what is wrong with them."""
        if self.postings_ is None:
            assert self.source is not None
            path, n_terms = self.source
            self.postings_ = _read_postings(path, len(self), n_terms)
            self.source = None
        return self.postings_

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of a term id here."""
        p = self.all_postings()
        i = int(np.searchsorted(p.terms, term))
        if i == len(p.terms) or p.terms[i] != term:
            return p.rows[:0], p.tf[:0]
        start, end = p.indptr[i], p.indptr[i + 1]
        return p.rows[start:end], p.tf[start:end]

    @functools.cached_property
    def digest(self) -> str:
        """A checksum of the chunk columns (the postings are checked by their zip's CRC)."""
        digest = hashlib.sha256(json.dumps([self.ids, self.article_table, self.outlet_table, self.deleted]).encode())
        for array in (self.article_codes, self.outlet_codes, self.dates, self.lengths):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def arrays(self) -> dict[str, np.ndarray]:
        return {"ids": _blob(self.ids), "articles": _blob(self.article_table), "article_codes": self.article_codes,
                "outlets": _blob(self.outlet_table), "outlet_codes": self.outlet_codes, "dates": self.dates,
                "lengths": self.lengths, "deleted": _blob(self.deleted), **self.all_postings()._asdict()}

    def write(self, folder: Path) -> None:
        path = folder / f"{self.name}.npz"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as out:
            np.savez(out, **self.arrays())  # type: ignore[arg-type]
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)

    @classmethod
    def read(cls, folder: Path, entry: Mapping[str, Any], n_terms: int, postings: bool = True) -> Segment:
        """The segment a commit names; ValueError saying what is wrong with its file. Without ``postings``
        only its chunk columns are read now, the postings on first use (an update that only adds a segment
        never reads them)."""
        path = folder / f"{entry['name']}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ARRAYS if k not in z.files]
                a = {k: z[k] for k in COLUMNS if k in z.files}
        except FileNotFoundError:
            raise Missing(f"{path.name} is missing") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path.name} does not load ({type(exc).__name__}: {exc})") from None
        if missing:
            raise ValueError(f"{path.name} lacks {', '.join(missing)}")
        n = int(entry["rows"])
        for key in ("article_codes", "outlet_codes", "dates", "lengths"):
            if a[key].ndim != 1 or a[key].dtype.kind != "i":
                raise ValueError(f"{path.name}: {key} holds {a[key].shape} {a[key].dtype} values")
        try:
            ids, articles, outlets = (_unblob(a[k], 1) for k in ("ids", "articles", "outlets"))
            deleted = _unblob(a["deleted"], int(entry["deleted"]))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path.name}: a list of names does not decode ({exc})") from None
        ids = ids if n else []
        if not (len(ids) == n == len(a["article_codes"]) == len(a["outlet_codes"]) == len(a["dates"])
                == len(a["lengths"])) or len(deleted) != int(entry["deleted"]):
            raise ValueError(f"{path.name} does not hold the {n} chunks meta.json lists")
        segment = cls(str(entry["name"]), ids, articles if n else [], a["article_codes"].astype(np.int32),
                      outlets if n else [], a["outlet_codes"].astype(np.int32), a["dates"].astype(np.int32),
                      a["lengths"].astype(np.int32), deleted, None, saved=True, source=(path, n_terms))
        if n and (segment.article_codes.max(initial=0) >= len(articles) or segment.outlet_codes.max(initial=0) >= len(outlets)):
            raise ValueError(f"{path.name}: a chunk's article or outlet is not in its table")
        if segment.digest != entry.get("digest"):
            raise ValueError(f"{path.name} was changed after it was written (digest mismatch)")
        if postings:
            segment.all_postings()
        return segment


class Missing(ValueError):
    """A file a commit names is not there: damage, or a newer commit (another process's merge) removed it."""


def _read_postings(path: Path, n: int, n_terms: int) -> Postings:
    """A segment file's postings (for ``n`` chunks and ``n_terms`` terms), checked; ValueError naming what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as z:
            terms_, indptr, rows, tf = (z[k] for k in POSTINGS)
    except FileNotFoundError:
        raise Missing(f"{path.name} is missing") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path.name} does not load ({type(exc).__name__}: {exc})") from None
    for key, array, kind in (("terms", terms_, "i"), ("indptr", indptr, "i"), ("rows", rows, "i"), ("tf", tf, "u")):
        if array.ndim != 1 or array.dtype.kind != kind:
            raise ValueError(f"{path.name}: {key} holds {array.shape} {array.dtype} values")
    postings = len(rows)
    if (len(indptr) != len(terms_) + 1 or (len(indptr) and (indptr[0] != 0 or indptr[-1] != postings))
            or len(tf) != postings or np.any(np.diff(indptr) <= 0) or np.any(np.diff(terms_) <= 0)
            or (len(terms_) and (terms_[0] < 0 or terms_[-1] >= n_terms))
            or (postings and (rows.min() < 0 or rows.max() >= n))):
        raise ValueError(f"{path.name}: its postings do not fit its {n} chunks and {n_terms} terms")
    return Postings(terms_.astype(np.int32), indptr.astype(np.int64), rows.astype(np.int32), tf.astype(np.uint16))


class _SegmentBuilder:
    """Collects chunks into one new segment, adding new words to the vocabulary it is given."""

    def __init__(self, vocab: dict[str, int], words: list[str]) -> None:
        self.vocab, self.words = vocab, words
        self.ids: list[str] = []
        self.articles: list[str] = []
        self.outlets: list[str] = []
        self.dates: list[int] = []
        self.lengths: list[int] = []
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (terms, rows, tf) per page
        self._page: list[np.ndarray] = []

    def add(self, chunk_id: str, text: str, meta: Mapping[str, Any]) -> None:
        words = tokens(f"{meta.get('title', '')}\n{text or ''}") or ["_"]
        vocab, known = self.vocab, self.words
        for w in words:
            if w not in vocab:
                vocab[w] = len(known)
                known.append(w)
        self.ids.append(chunk_id)
        self.articles.append(str(meta.get("article_id", "")))
        self.outlets.append(str(meta.get("outlet_key", "")))
        self.dates.append(int(meta.get("published_key", 0) or 0))
        self.lengths.append(len(words))
        self._page.append(np.fromiter((vocab[w] for w in words), dtype=np.int64, count=len(words)))
        if len(self._page) >= FETCH:
            self._flush()

    def _flush(self) -> None:
        if not self._page:
            return
        first = len(self.ids) - len(self._page)
        rows = np.repeat(np.arange(first, len(self.ids), dtype=np.int64), [len(p) for p in self._page])
        keys, counts = np.unique((np.concatenate(self._page) << 32) | rows, return_counts=True)
        self.parts.append(((keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32),
                           np.minimum(counts, 65535).astype(np.uint16)))
        self._page = []

    def finish(self, deleted: Iterable[str] = ()) -> Segment:
        self._flush()
        return _new_segment(self.ids, self.articles, self.outlets, self.dates, self.lengths, deleted,
                            lambda: self.parts)


Run = tuple[np.ndarray, np.ndarray, np.ndarray]  # (term ids, ascending; rows; counts) of some postings


def _postings(runs: Callable[[], Iterable[Run]]) -> Postings:
    """(terms, indptr, rows, tf) from runs of postings, each sorted by term, whose rows ascend within a term
    and from one run to the next; ``runs`` is called twice (count, then place), so no sort of all the postings
    is needed and memory beyond the result is one run's (a merge at 1M chunks peaked at 4.2 GiB with a sort)."""
    counts = np.zeros(0, np.int64)
    for terms_, _, _ in runs():
        if len(terms_):
            first, n = _term_runs(terms_)
            if int(terms_[-1]) >= len(counts):
                counts = np.concatenate([counts, np.zeros(int(terms_[-1]) + 1 - len(counts), np.int64)])
            counts[terms_[first]] += n
    terms_out = np.flatnonzero(counts).astype(np.int32)
    indptr = np.zeros(len(terms_out) + 1, np.int64)
    np.cumsum(counts[terms_out], out=indptr[1:])
    cursor = np.zeros(len(counts), np.int64)  # where each term's next posting goes
    cursor[terms_out] = indptr[:-1]
    rows_out, tf_out = np.empty(int(indptr[-1]), np.int32), np.empty(int(indptr[-1]), np.uint16)
    for terms_, rows, tf in runs():
        if len(terms_):
            first, n = _term_runs(terms_)
            dest = np.repeat(cursor[terms_[first]] - first, n) + np.arange(len(terms_))
            rows_out[dest], tf_out[dest] = rows, tf
            cursor[terms_[first]] += n
    return Postings(terms_out, indptr, rows_out, tf_out)


def _term_runs(terms_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each term's run starts in sorted ``terms_``, and its length."""
    first = np.flatnonzero(np.concatenate([[True], terms_[1:] != terms_[:-1]]))
    return first, np.diff(np.append(first, len(terms_)))


def _new_segment(ids: list[str], articles: Sequence[str], outlets: Sequence[str], dates: Any, lengths: Any,
                 deleted: Iterable[str], runs: Callable[[], Iterable[Run]]) -> Segment:
    """A new segment of these chunks, with the postings of ``runs`` (see :func:`_postings`)."""
    article_table, article_codes = _coded(articles)
    outlet_table, outlet_codes = _coded(outlets)
    return Segment(f"seg-{uuid.uuid4().hex[:12]}", ids, article_table, article_codes, outlet_table, outlet_codes,
                   np.asarray(dates, dtype=np.int32), np.asarray(lengths, dtype=np.int32), sorted(set(deleted)),
                   _postings(runs))


def _merge(segments: Sequence[Segment], live: Sequence[np.ndarray], keep_deleted: bool) -> Segment:
    """One segment with the live rows of ``segments`` (consecutive, oldest first); their deletions are kept
    when older segments remain, since they may still apply to those."""
    ids: list[str] = []
    articles: list[str] = []
    outlets: list[str] = []
    dates, lengths, new_rows = [], [], []
    for segment, alive in zip(segments, live):
        new_rows.append((np.cumsum(alive, dtype=np.int64) - 1 + len(ids)).astype(np.int32))
        ids += itertools.compress(segment.ids, alive)
        articles += [segment.article_table[c] for c in segment.article_codes[alive]]
        outlets += [segment.outlet_table[c] for c in segment.outlet_codes[alive]]
        dates.append(segment.dates[alive])
        lengths.append(segment.lengths[alive])

    def runs() -> Iterator[Run]:  # each segment's live postings, MERGE_BLOCK at a time
        for segment, alive, new_row in zip(segments, live, new_rows):
            p = segment.all_postings()
            for start in range(0, len(p.rows), MERGE_BLOCK):
                end = min(start + MERGE_BLOCK, len(p.rows))
                rows = p.rows[start:end]
                keep = alive[rows]
                term_of = p.terms[np.searchsorted(p.indptr, np.arange(start, end), side="right") - 1]
                yield term_of[keep], new_row[rows[keep]], p.tf[start:end][keep]

    deleted = {d for s in segments for d in s.deleted} if keep_deleted else set()
    return _new_segment(ids, articles, outlets, np.concatenate(dates), np.concatenate(lengths), deleted, runs)


def _live(segments: Sequence[Segment]) -> list[np.ndarray]:
    """Which rows of each segment are live: not held by a newer segment, nor deleted by a later commit."""
    live: list[np.ndarray] = [np.ones(0, dtype=bool)] * len(segments)
    superseded: set[str] = set()
    for i in range(len(segments) - 1, -1, -1):
        segment = segments[i]
        if superseded:
            live[i] = np.fromiter((cid not in superseded for cid in segment.ids), dtype=bool, count=len(segment))
        else:
            live[i] = np.ones(len(segment), dtype=bool)
        if i:
            superseded.update(segment.ids)
            superseded.update(segment.deleted)
    return live


@dataclass(eq=False)
class LexicalIndex:
    """The chunks BM25 can find, with each chunk's article, date key and outlet for the filters.

    Rows are the live chunks in segment order; ``chunk_ids[row]`` names one."""

    version: str
    words: list[str]  # term id -> stemmed word
    segments: list[Segment]
    lineage: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # names the term file these ids are of
    saved_words: int = 0  # how many of ``words`` that term file holds
    saved_bytes: int = 0  # and their length in it

    def __post_init__(self) -> None:
        self.live = _live(self.segments)
        self.offsets = np.cumsum([0, *(int(a.sum()) for a in self.live)])
        self.chunk_ids: list[str] = [cid for s, a in zip(self.segments, self.live) for cid in itertools.compress(s.ids, a)]
        self.date_keys = np.concatenate([np.zeros(0, np.int32), *(s.dates[a] for s, a in zip(self.segments, self.live))])
        self.lengths = np.concatenate([np.zeros(0, np.int32), *(s.lengths[a] for s, a in zip(self.segments, self.live))])
        self.outlet_table, self.outlet_codes = self._joined("outlet")
        self.article_table, self.article_codes = self._joined("article")
        # a segment's row -> the index's row (-1: not live)
        self._rows = [np.where(a, np.cumsum(a, dtype=np.int64) - 1 + off, -1) for a, off in zip(self.live, self.offsets)]
        self._df: dict[int, int] = {}

    def _joined(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """One table of ``column``'s values across segments, and each live row's code in it."""
        table: dict[str, int] = {}
        codes = []
        for segment, alive in zip(self.segments, self.live):
            own = getattr(segment, f"{column}_table")
            recode = np.fromiter((table.setdefault(v, len(table)) for v in own), dtype=np.int32, count=len(own))
            codes.append(recode[getattr(segment, f"{column}_codes")[alive]] if len(own) else np.zeros(0, np.int32))
        return np.asarray(list(table), dtype=object), np.concatenate([np.zeros(0, np.int32), *codes])

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @functools.cached_property
    def vocab(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    @functools.cached_property
    def positions(self) -> dict[str, int]:
        """Chunk id -> row."""
        return {cid: i for i, cid in enumerate(self.chunk_ids)}

    @property
    def article_ids(self) -> np.ndarray:
        return self.article_table[self.article_codes]

    @property
    def outlets(self) -> np.ndarray:
        return self.outlet_table[self.outlet_codes]

    def mask(self, rule: FilterRule | None) -> np.ndarray | None:
        """Which chunks the filter rule admits (None when there is no rule)."""
        return None if rule is None else rule.mask(self.date_keys, self.outlet_codes, self.outlet_table)

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of the live chunks holding a term id."""
        rows, counts = [], []
        for segment, to_row in zip(self.segments, self._rows):
            local, tf = segment.postings(term)
            row = to_row[local]
            keep = row >= 0
            rows.append(row[keep])
            counts.append(tf[keep])
        return np.concatenate(rows), np.concatenate(counts)

    def frequency(self, token: str) -> int:
        """How many chunks hold a stemmed token."""
        term = self.vocab.get(token)
        if term is None:
            return 0
        if term not in self._df:
            self._df[term] = len(self.postings(term)[0])
        return self._df[term]

    def idf(self, token: str) -> float:
        """Inverse document frequency of a stemmed token, as BM25 weighs it (a token the corpus lacks: the highest)."""
        df, n = self.frequency(token), len(self.chunk_ids)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    @functools.cached_property
    def _norms(self) -> np.ndarray:
        """BM25's length normalisation per row: k1 (1 - b + b length / average length)."""
        lengths = self.lengths.astype(np.float64)
        return K1 * (1 - B + B * lengths / max(lengths.mean(), 1e-9)) if len(lengths) else lengths

    @functools.cached_property
    def article_dates(self) -> np.ndarray:
        """The date key of each dated article, oldest first (one entry per article)."""
        dated = self.date_keys > 0
        _, first = np.unique(self.article_codes[dated], return_index=True)
        return np.sort(self.date_keys[dated][first])

    @functools.cached_property
    def article_days(self) -> np.ndarray:
        """``article_dates`` as day ordinals."""
        return np.array([date_from_key(int(k)).toordinal() for k in self.article_dates], dtype=np.int64)

    def corpus_today(self, now: date, several: int = SEVERAL, within_days: int = NEIGHBOURHOOD_DAYS) -> date | None:
        """The corpus's "today" (:func:`robust_today` of its articles' dates)."""
        return robust_today(self.article_days, now, several, within_days)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no query word is indexed); a word the query
        repeats counts each time, as in bm25s."""
        out = np.zeros(len(self.chunk_ids), dtype=np.float32)
        n = len(self.chunk_ids)
        weights: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for token in tokens(query):
            term = self.vocab.get(token)
            if term is None or not n:
                continue
            if term not in weights:
                rows, tf = self.postings(term)
                self._df[term] = df = len(rows)
                tf = tf.astype(np.float64)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                weights[term] = rows, (idf * tf / (tf + self._norms[rows])).astype(np.float32)
            rows, weight = weights[term]
            out[rows] += weight
        return out

    # -- building and updating --------------------------------------------------------------------

    @classmethod
    def build(cls, store: Store, version: str) -> LexicalIndex:
        """Read every chunk from the store and index title + text, as one segment."""
        builder = _SegmentBuilder({}, [])
        for chunk in store.iter_chunks():
            builder.add(chunk["id"], chunk["document"], chunk["metadata"])
        return cls(version, builder.words, [builder.finish()])

    def updated(self, store: Store, written: Iterable[str], deleted: Iterable[str], version: str) -> LexicalIndex:
        """This index after one ingest: a new segment with the chunks ``written`` (read back from the store;
        one deleted since is skipped) that removes the chunks ``deleted`` from the older segments."""
        words = list(self.words)
        builder = _SegmentBuilder(dict(self.vocab), words)
        wanted = sorted(set(written))
        for start in range(0, len(wanted), FETCH):
            for cid, text, meta in store.get_chunks(wanted[start:start + FETCH]):
                builder.add(cid, text, meta)
        segments = [*self.segments, builder.finish(deleted)]
        if len(segments) > MAX_SEGMENTS:
            segments = self._merged(segments)
        return LexicalIndex(version, words, segments, self.lineage, self.saved_words, self.saved_bytes)

    @staticmethod
    def _merged(segments: list[Segment]) -> list[Segment]:
        """The newer segments as one; all of them as one when the newer ones hold half as many rows as the first."""
        live = _live(segments)
        first = 0 if int(live[0].sum()) <= 2 * sum(int(a.sum()) for a in live[1:]) else 1
        merged = _merge(segments[first:], live[first:], keep_deleted=first > 0)
        return [*segments[:first], merged]

    # -- persistence ----------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Commit this index to ``folder``: its unsaved segments and words first, then ``meta.json`` in one
        replace, then remove the files no longer named. One saver at a time (a lock beside the folder)."""
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder.with_name(folder.name + ".lock"))):
            words_file = folder / f"terms-{self.lineage}.txt"
            if self.saved_words and not words_file.exists():  # another process's rebuild removed it: write it whole
                self.saved_words, self.saved_bytes = 0, 0
            for segment in self.segments:  # files another process's merge removed are written again
                if segment.saved and not (folder / f"{segment.name}.npz").exists():
                    if not segment.loaded:
                        raise OSError(f"{segment.name}.npz was removed by another process before this commit")
                    segment.saved = False
            new = "".join(f"{w}\n" for w in self.words[self.saved_words:]).encode()
            with open(words_file, "ab" if self.saved_words else "wb") as out:
                out.truncate(self.saved_bytes)
                out.seek(self.saved_bytes)
                out.write(new)
                out.flush()
                os.fsync(out.fileno())
            for segment in self.segments:
                if not segment.saved:
                    segment.write(folder)
            entries = [{"name": s.name, "rows": len(s), "deleted": len(s.deleted), "digest": s.digest}
                       for s in self.segments]
            size = self.saved_bytes + len(new)
            meta = {"format": FORMAT, "tokens": TOKENS, "version": self.version, "terms_file": words_file.name,
                    "terms": len(self.words), "terms_bytes": size, "segments": entries}
            commit(folder, meta)
            self.saved_words, self.saved_bytes = len(self.words), size
            for segment in self.segments:
                segment.saved = True
            remove_unnamed(folder, {"meta.json", words_file.name, *(f"{s.name}.npz" for s in self.segments)},
                           "the lexical index")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """The saved index, or None when there is none or it is damaged (see :meth:`read`)."""
        return cls.read(folder)[0]

    @property
    def complete(self) -> bool:
        """Whether every segment's postings are read (see :meth:`read`'s ``postings``)."""
        return all(s.loaded for s in self.segments)

    def load_postings(self) -> None:
        """Read the postings a lazy read left unread; ValueError saying what is wrong with a segment's."""
        for segment in self.segments:
            segment.all_postings()

    @classmethod
    def read(cls, folder: Path, known: LexicalIndex | None = None,
             postings: bool = True) -> tuple[LexicalIndex | None, str]:
        """The saved index and "", or None and what is wrong with the files ("" when none was saved, or one in
        an older layout or by an older word splitter, which is simply rebuilt). Segments and words of a
        ``known`` index of the same lineage (one loaded earlier) are reused, not read again: a process that
        loaded the index reads only what later commits added. Without ``postings``, the segments' postings
        (most of their bytes) are read and checked on first use, not now: for an update that only adds a
        segment (:meth:`LexicalCache.refresh`).

        Any damage counts: a missing file, JSON that does not parse or holds the wrong types, a digest that
        does not match, a term file shorter than the commit says, a segment that does not load or whose
        arrays disagree with each other or with the commit. A file missing because a newer commit replaced
        the one read (another process's merge) is not damage: that commit is read instead.
        """
        got = read_newest(lambda: cls._read(folder, known, postings))
        return (None, str(got)) if isinstance(got, Replaced) else got

    @classmethod
    def _read(cls, folder: Path, known: LexicalIndex | None, postings: bool) -> tuple[LexicalIndex | None, str]:
        """:meth:`read` once; Replaced when a file the meta.json read names was removed by a newer commit."""
        if not folder.exists() or not any(folder.iterdir()):
            return None, ""
        try:
            text = (folder / "meta.json").read_text()
            meta = json.loads(text)
        except FileNotFoundError:
            return None, "meta.json is missing"
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return None, f"meta.json does not parse ({type(exc).__name__}: {exc})"
        if not isinstance(meta, dict):
            return None, f"meta.json holds {type(meta).__name__}, not an object"
        if meta.get("format") != FORMAT or meta.get("tokens") != TOKENS:
            log.info("the lexical index at %s was saved in an older layout or by an older word splitter; "
                     "rebuilding it", folder)
            return None, ""
        problem = _meta_problem(meta)
        if problem:
            return None, problem
        try:
            lineage = meta["terms_file"][len("terms-"):-len(".txt")]
            if known is None or known.lineage != lineage or known.saved_bytes > meta["terms_bytes"]:
                known = None
            have = known.words[:known.saved_words] if known else []
            words = _read_words(folder / meta["terms_file"], meta["terms"], meta["terms_bytes"], have,
                                known.saved_bytes if known else 0)
            loaded = {s.name: s for s in known.segments if s.saved} if known else {}
            segments = []
            for entry in meta["segments"]:
                segment = loaded.get(entry["name"])
                if segment is None or len(segment) != entry["rows"] or segment.digest != entry.get("digest"):
                    segment = Segment.read(folder, entry, len(words), postings)
                segments.append(segment)
        except Missing as exc:
            raise_if_replaced(folder, text, str(exc))
            return None, str(exc)
        except ValueError as exc:
            return None, str(exc)
        return cls(meta["version"], words, segments, lineage, len(words), meta["terms_bytes"]), ""


def _meta_problem(meta: Mapping[str, Any]) -> str:
    """What is wrong with meta.json's fields, or ""."""
    expected = {"version": str, "terms_file": str, "terms": int, "terms_bytes": int, "segments": list, "digest": str}
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind):
            return f"meta.json: {key} is {'missing' if key not in meta else type(meta[key]).__name__}, not {kind.__name__}"
    for entry in meta["segments"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("rows"), int)
                and isinstance(entry.get("deleted"), int) and "/" not in entry["name"]):
            return "meta.json: a segment entry is not a name with row and deletion counts"
    if "/" in meta["terms_file"] or not meta["terms_file"].startswith("terms-"):
        return f"meta.json: {meta['terms_file']!r} is not a term file's name"
    if meta["digest"] != meta_digest(meta):
        return "meta.json was changed after it was written (digest mismatch)"
    return ""


def _read_words(path: Path, count: int, size: int, have: list[str], have_bytes: int) -> list[str]:
    """The first ``count`` words of a term file (``size`` bytes), of which the first ``have`` (``have_bytes``)
    are known already; ValueError naming what is wrong."""
    try:
        with path.open("rb") as source:
            source.seek(have_bytes)
            data = source.read(size - have_bytes)
    except FileNotFoundError:
        raise Missing(f"{path.name} is missing") from None
    except OSError as exc:
        raise ValueError(f"{path.name} does not read ({exc})") from None
    try:
        words = data.decode().split("\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name} does not decode ({exc})") from None
    if len(data) != size - have_bytes or words[-1] != "" or len(have) + len(words) - 1 != count:
        raise ValueError(f"{path.name} holds {len(have) + len(words) - 1} words in {have_bytes + len(data)} bytes, "
                         f"not the {count} in {size} bytes meta.json names")
    return have + words[:-1]


class LexicalCache:
    """The current LexicalIndex of one store: loaded from disk, updated or rebuilt only when the store changed.

    Invariant: :meth:`get` returns an index of the store at its current version, except that a reader's
    returns the last committed one while an ingest is writing (:meth:`_caught_up`, :meth:`_while_writing`).
    A saved index is used only if its files are whole, its version is the store's and it holds as many chunks
    as Chroma; a damaged one is rebuilt, logged as a warning naming the damage and listed in ``repairs``.
    After an ingest, :meth:`refresh` given the run's :class:`rag.store.ChunkChanges` adds a segment instead
    of rebuilding.
    """

    def __init__(self, store: Store, folder: Path, reader: bool = False) -> None:
        self.store = store
        self.folder = folder
        self.reader = reader  # answers questions: see :meth:`_while_writing`
        self.repairs: list[str] = []  # what was found wrong with the saved index and rebuilt, in words
        self.saved = ""  # the store version of the index on disk, once read or written whole by this cache
        self.updated = False  # whether the last refresh added a segment rather than rebuilding
        self._index: LexicalIndex | None = None
        self._lock = threading.Lock()

    def get(self, version: str | None = None) -> LexicalIndex:
        version = self.store.version() if version is None else version
        index = self._index
        if index is not None and index.version == version and index.complete:
            return index
        with self._lock:
            if self._index is not None and self._index.version == version and self._index.complete:
                return self._index
            index, problem = LexicalIndex.read(self.folder, self._index)
            if index is not None and not problem:
                try:  # postings an update left unread (refresh) are read, and checked, before a query uses them
                    index.load_postings()
                except Missing:  # removed by a newer commit since: read that one whole
                    index, problem = LexicalIndex.read(self.folder)
                except ValueError as exc:
                    index, problem = None, str(exc)
            if index is not None and index.version == version and len(index) != (held := self.store.count_chunks()):
                problem = f"it holds {len(index)} chunks but Chroma holds {held}"
            if problem:
                self.repairs.append(f"the lexical index at {self.folder} was damaged ({problem}); rebuilt it from Chroma")
                log.warning("%s", self.repairs[-1])
            elif index is not None and index.version != version and (caught := self._caught_up(index, version)):
                self._index = caught
                return caught
            elif index is not None and index.version != version and self._while_writing(index):
                self._index = index
                return index
            if problem or index is None or index.version != version:
                log.info("building the BM25 index for store version %s", version or "(empty)")
                index = LexicalIndex.build(self.store, version)
                self._save(index)
            else:
                self.saved = version
            self._index = index
            return index

    def _while_writing(self, index: LexicalIndex) -> bool:
        """Whether a reader should answer from ``index``, the last one an ingest committed, because an ingest on
        this machine is writing now and left no open entry in the change log to follow (one that began by
        recovering what a killed run left). In http mode the writer lock is not taken, so the run's marker alone
        says so. An ingest writing from anywhere is otherwise found through the change log (:meth:`_caught_up`)."""
        return (self.reader and marker.read(self.store.settings.index_dir) is not None
                and self._answers_while_writing(index.version))

    def _answers_while_writing(self, version: str) -> bool:
        """Whether this cache answers from the lexical index of ``version`` while an ingest writes: a reader's
        does, unless (embedded) the writer lock is free, so the run was killed and its leftovers are rebuilt,
        as the next ingest will; a writer's never does."""
        if not self.reader:
            return False
        if self.store.settings.store.mode == "embedded" and not marker.running(self.store.settings.index_dir):
            return False
        log.info("an ingest is writing to the index: answering from the lexical index of store version %s until "
                 "it finishes", version)
        return True

    def _caught_up(self, index: LexicalIndex, version: str) -> LexicalIndex | None:
        """``index`` brought to ``version`` through the store's change log (what other processes' ingests
        wrote and deleted since), saved; None when the log does not lead there or the result disagrees with
        Chroma's chunk count.

        While a run is writing (its open entry is ``version``), a reader's index is brought only to the
        version the run started from and answers from there: the store's version moved at the run's first
        write, but its changes are logged only when it ends, and a rebuild from a half-written Chroma (minutes
        at 1M chunks, inside a question) would be outdated by then. Embedded, the writer lock says whether the
        run is still alive; over http (runs on other machines), its word within RUN_SILENCE does."""
        path = self.store.log_between(index.version, version)
        if path is None or len(path.changes.written) >= max(len(index), 1):
            return None
        if path.writing and not self._answers_while_writing(path.reached):
            return None
        caught = index if path.reached == index.version else \
            index.updated(self.store, path.changes.written, path.changes.deleted, path.reached)
        if not path.writing:  # while a run writes, Chroma holds part of its chunks: no count to compare yet
            if len(caught) != self.store.count_chunks():
                log.warning("the lexical index caught up through the change log disagrees with Chroma; rebuilding it")
                return None
            log.info("the lexical index caught up with store version %s: %d chunk(s) written, %d deleted", version,
                     len(path.changes.written), len(path.changes.deleted))
        if caught is not index:
            self._save(caught)
        return caught

    def _save(self, index: LexicalIndex) -> None:
        try:
            index.save(self.folder)
            self.saved = index.version
        except OSError as exc:
            log.warning("could not save the BM25 index to %s: %s", self.folder, exc)

    def current(self) -> LexicalIndex:
        """The index last loaded (loading it if none), without asking the store for its version: for the
        lookups that follow a search within one question, which would otherwise read Chroma once per word."""
        index = self._index
        return index if index is not None and index.complete else self.get()

    def refresh(self, changes: ChunkChanges | None = None) -> LexicalIndex:
        """Make sure the saved index matches the store now (after an ingest), so the next query does not pay.

        With the ``changes`` one run made since the store version ``changes.since``, and an index of that
        version (in memory or whole on disk), only those chunks are indexed, as a new segment; otherwise,
        or if the result does not hold as many chunks as Chroma, the index is rebuilt."""
        version = self.store.version()
        self.updated = False
        if changes is None or not changes.since or changes.since == version:
            return self.get(version)
        with self._lock:
            base = self._index if self._index is not None and self._index.version == changes.since else None
            if base is None:  # the postings are read only if a merge needs them
                base = LexicalIndex.read(self.folder, self._index, postings=False)[0]
            if base is not None and base.version == changes.since and len(changes.written) < max(len(base), 1):
                try:
                    index = base.updated(self.store, changes.written, changes.deleted, version)
                except ValueError as exc:  # a segment's postings, read for a merge, are damaged: get() rebuilds
                    log.warning("the lexical index could not be updated (%s)", exc)
                else:
                    held = self.store.count_chunks()
                    if len(index) == held:
                        self._save(index)
                        self._index, self.updated = index, True
                        return index
                    log.warning("the lexical index updated for this ingest holds %d chunks but Chroma holds %d; "
                                "rebuilding it", len(index), held)
        return self.get(version)


def build_lexical_cache(settings: Settings, store: Store, reader: bool = False) -> LexicalCache:
    """The LexicalCache of a store, saved under ``index_dir/bm25/<collection>``; a ``reader`` answers questions
    (see :meth:`LexicalCache._while_writing`), a writer (an ingest, a copy) always brings the index up to date."""
    return LexicalCache(store, settings.index_dir / "bm25" / settings.store.collection, reader)
