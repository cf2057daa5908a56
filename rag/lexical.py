"""The lexical index: BM25 (bm25s) over the same chunks as Chroma, saved beside it.

Built from the store's chunks after an ingest changes the index and saved under
``index_dir/bm25`` (the folder keeps the name it had when this module was ``rag/bm25.py``, so that existing
indexes are not rebuilt) together with the store version it reflects; a query only
loads it. Per chunk it also keeps the article id, the publication date key and
the outlet, so date and outlet filters become a mask over the BM25 scores.

The saved files check themselves: ``meta.json`` carries a digest of its contents
and of ``date_keys.npy``, and a load that finds anything wrong (see
:meth:`LexicalIndex.read`) rebuilds from Chroma and says what it found.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.filters import FilterRule
from rag.schema import date_from_key
from rag.store import Store
from rag.text import terms

log = logging.getLogger(__name__)
SEVERAL = 3  # "today" is the newest date that at least this many articles reach ...
NEIGHBOURHOOD_DAYS = 30  # ... within this many days before it


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


def _read_file(path: Path, parse: Callable[[Any], Any]) -> Any:
    """``parse`` of a file's text (or, for .npy, of its path); ValueError naming the file when it is
    missing, unreadable or does not parse."""
    try:
        return parse(path) if path.suffix == ".npy" else parse(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path.name} is missing") from None
    except (OSError, ValueError, EOFError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path.name} does not parse ({type(exc).__name__}: {exc})") from None


def _digest(version: str, chunk_ids: list[str], article_ids: list[str], outlets: list[str],
            date_keys: np.ndarray) -> str:
    """A checksum of what meta.json and date_keys.npy say, stored beside them: any later edit shows."""
    digest = hashlib.sha256(json.dumps([version, chunk_ids, article_ids, outlets]).encode())
    digest.update(np.ascontiguousarray(date_keys, dtype=np.int32).tobytes())
    return digest.hexdigest()


def _meta_fields(meta: object) -> tuple[str, list[str], list[str], list[str]]:
    """version, chunk ids, article ids and outlets from meta.json; ValueError naming the first problem."""
    if not isinstance(meta, dict):
        raise ValueError(f"meta.json holds {type(meta).__name__}, not an object")
    if not isinstance(meta.get("version"), str):
        raise ValueError(f"meta.json: version is {type(meta.get('version')).__name__}, not a string")
    lists = []
    for name in ("chunk_ids", "article_ids", "outlets"):
        value = meta.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"meta.json: {name} is {'missing' if value is None else 'not a list of strings'}")
        lists.append(value)
    chunk_ids, article_ids, outlets = lists
    if not len(chunk_ids) == len(article_ids) == len(outlets):
        raise ValueError(f"meta.json lists {len(chunk_ids)} chunk ids, {len(article_ids)} article ids and "
                         f"{len(outlets)} outlets")
    if len(set(chunk_ids)) != len(chunk_ids):
        raise ValueError("meta.json lists a chunk id twice")
    return meta["version"], chunk_ids, article_ids, outlets


@dataclass(eq=False)
class LexicalIndex:
    version: str
    chunk_ids: list[str]
    article_ids: np.ndarray  # str per chunk
    date_keys: np.ndarray  # int32 per chunk, 0 = undated
    outlets: np.ndarray  # outlet_key per chunk
    model: object | None  # bm25s.BM25, None when the index is empty

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @functools.cached_property
    def positions(self) -> dict[str, int]:
        """Chunk id -> row in these arrays."""
        return {cid: i for i, cid in enumerate(self.chunk_ids)}

    def mask(self, rule: FilterRule | None) -> np.ndarray | None:
        """Which chunks the filter rule admits (None when there is no rule)."""
        return None if rule is None else rule.mask(self.date_keys, self.outlets)

    @functools.cached_property
    def document_frequency(self) -> np.ndarray:
        """How many chunks hold each vocabulary token (by token id)."""
        if self.model is None:
            return np.zeros(0, dtype=np.int64)
        return np.diff(np.asarray(self.model.scores["indptr"]))  # type: ignore[attr-defined]

    def idf(self, token: str) -> float:
        """Inverse document frequency of a stemmed token, as BM25 weighs it (a token the corpus lacks: the highest)."""
        df, n = self.frequency(token), len(self.chunk_ids)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def frequency(self, token: str) -> int:
        """How many chunks hold a stemmed token."""
        vocab = self.model.vocab_dict if self.model is not None else {}  # type: ignore[attr-defined]
        row = vocab.get(token)
        return int(self.document_frequency[row]) if row is not None and row < len(self.document_frequency) else 0

    @functools.cached_property
    def article_dates(self) -> np.ndarray:
        """The date key of each dated article, oldest first (one entry per article)."""
        if not len(self.date_keys):
            return np.zeros(0, dtype=np.int32)
        dated = self.date_keys > 0
        _, first = np.unique(self.article_ids[dated].astype(str), return_index=True)
        return np.sort(self.date_keys[dated][first])

    @functools.cached_property
    def article_days(self) -> np.ndarray:
        """``article_dates`` as day ordinals."""
        return np.array([date_from_key(int(k)).toordinal() for k in self.article_dates], dtype=np.int64)

    def corpus_today(self, now: date, several: int = SEVERAL, within_days: int = NEIGHBOURHOOD_DAYS) -> date | None:
        """The corpus's "today" (:func:`robust_today` of its articles' dates)."""
        return robust_today(self.article_days, now, several, within_days)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no query word is indexed)."""
        if self.model is None or not self.chunk_ids:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        vocab = self.model.vocab_dict  # type: ignore[attr-defined]
        known = [t for t in tokens(query) if t in vocab]
        if not known:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        return np.asarray(self.model.get_scores(known), dtype=np.float32)  # type: ignore[attr-defined]

    # -- persistence ----------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write to a temporary folder, then swap it in, so readers never see half an index."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.model is not None:
            self.model.save(str(tmp / "bm25"), show_progress=False)  # type: ignore[attr-defined]
        np.save(tmp / "date_keys.npy", self.date_keys)
        fields = (self.version, self.chunk_ids, self.article_ids.tolist(), self.outlets.tolist())
        (tmp / "meta.json").write_text(json.dumps({
            **dict(zip(("version", "chunk_ids", "article_ids", "outlets"), fields)),
            "digest": _digest(*fields, self.date_keys), "tokens": TOKENS,
        }))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """The saved index, or None when there is none or it is damaged (see :meth:`read`)."""
        return cls.read(folder)[0]

    @classmethod
    def read(cls, folder: Path) -> tuple[LexicalIndex | None, str]:
        """The saved index and "", or None and what is wrong with the files ("" when none was saved).

        Any damage counts: a missing file, JSON that does not parse or holds the wrong types, arrays whose
        lengths disagree with the chunk ids, a BM25 model that does not load or counts other documents.
        """
        if not folder.exists():
            return None, ""
        try:
            meta = _read_file(folder / "meta.json", json.loads)
            version, chunk_ids, article_ids, outlets = _meta_fields(meta)
            date_keys = _read_file(folder / "date_keys.npy", lambda path: np.load(path, allow_pickle=False))
        except ValueError as exc:
            return None, str(exc)
        n = len(chunk_ids)
        if date_keys.ndim != 1 or date_keys.dtype.kind not in "iu" or len(date_keys) != n:
            return None, f"date_keys.npy holds {date_keys.shape} {date_keys.dtype} values for {n} chunk ids"
        if "digest" not in meta:
            log.info("the lexical index at %s predates digests; rebuilding it", folder)
            return None, ""
        if meta["digest"] != _digest(version, chunk_ids, article_ids, outlets, date_keys):
            return None, "meta.json or date_keys.npy was changed after it was written (digest mismatch)"
        if meta.get("tokens") != TOKENS:
            log.info("the lexical index at %s was built with an older word splitter; rebuilding it", folder)
            return None, ""
        model = None
        if n:
            try:
                import bm25s

                logging.getLogger("bm25s").setLevel(logging.WARNING)
                model = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
                docs = int(model.scores["num_docs"])
            except Exception as exc:  # noqa: BLE001 - bm25s raises many types for damaged files
                return None, f"the BM25 model in {folder / 'bm25'} does not load ({type(exc).__name__}: {exc})"
            if docs != n:
                return None, f"the BM25 model counts {docs} documents but meta.json lists {n} chunk ids"
        return cls(version, chunk_ids, np.asarray(article_ids, dtype=object), date_keys.astype(np.int32),
                   np.asarray(outlets, dtype=object), model), ""

    @classmethod
    def build(cls, store: Store, version: str) -> LexicalIndex:
        """Read every chunk from the store and index title + text."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        chunk_ids: list[str] = []
        article_ids: list[str] = []
        date_keys: list[int] = []
        outlets: list[str] = []
        # Token ids, not token strings: the index of a large corpus is built without holding every word.
        vocab: dict[str, int] = {}
        corpus: list[np.ndarray] = []
        for chunk in store.iter_chunks():
            meta = chunk["metadata"]
            chunk_ids.append(chunk["id"])
            article_ids.append(str(meta.get("article_id", "")))
            date_keys.append(int(meta.get("published_key", 0) or 0))
            outlets.append(str(meta.get("outlet_key", "")))
            words = tokens(f"{meta.get('title', '')}\n{chunk['document'] or ''}") or ["_"]
            corpus.append(np.fromiter((vocab.setdefault(w, len(vocab)) for w in words), dtype=np.int32, count=len(words)))
        model = None
        if corpus:
            model = bm25s.BM25()
            model.index((corpus, vocab), show_progress=False)
        return cls(version, chunk_ids, np.asarray(article_ids, dtype=object), np.asarray(date_keys, dtype=np.int32),
                   np.asarray(outlets, dtype=object), model)


class LexicalCache:
    """The current LexicalIndex of one store: loaded from disk, rebuilt only when the store changed.

    Invariant: :meth:`get` returns an index built from the store at its current version. A saved index
    is used only if its files are whole, its version is the store's and it holds as many chunks as
    Chroma; a damaged one is rebuilt, logged as a warning naming the damage and listed in ``repairs``.
    """

    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        self.folder = folder
        self.repairs: list[str] = []  # what was found wrong with the saved index and rebuilt, in words
        self.saved = ""  # the store version of the index on disk, once read or written whole by this cache
        self._index: LexicalIndex | None = None
        self._lock = threading.Lock()

    def get(self, version: str | None = None) -> LexicalIndex:
        version = self.store.version() if version is None else version
        index = self._index
        if index is not None and index.version == version:
            return index
        with self._lock:
            if self._index is not None and self._index.version == version:
                return self._index
            index, problem = LexicalIndex.read(self.folder)
            if index is not None and index.version == version and len(index) != (held := self.store.count_chunks()):
                problem = f"it holds {len(index)} chunks but Chroma holds {held}"
            if problem:
                self.repairs.append(f"the lexical index at {self.folder} was damaged ({problem}); rebuilt it from Chroma")
                log.warning("%s", self.repairs[-1])
            if problem or index is None or index.version != version:
                log.info("building the BM25 index for store version %s", version or "(empty)")
                index = LexicalIndex.build(self.store, version)
                try:
                    index.save(self.folder)
                    self.saved = version
                except OSError as exc:
                    log.warning("could not save the BM25 index to %s: %s", self.folder, exc)
            else:
                self.saved = version
            self._index = index
            return index

    def current(self) -> LexicalIndex:
        """The index last loaded (loading it if none), without asking the store for its version: for the
        lookups that follow a search within one question, which would otherwise read Chroma once per word."""
        return self._index or self.get()

    def refresh(self) -> LexicalIndex:
        """Make sure the saved index matches the store now (after an ingest), so the next query does not pay."""
        return self.get(self.store.version())


def lexical_cache(settings: Settings, store: Store) -> LexicalCache:
    """The LexicalCache of a store, saved under ``index_dir/bm25/<collection>``."""
    return LexicalCache(store, settings.index_dir / "bm25" / settings.store.collection)
