"""Chroma: the single adapter (embedded directory or HTTP server).

Two collections:

* ``<name>`` holds chunks: our own embeddings (cosine) and metadata: the chunk
  text (``text``), and for filters and citations article id and hash, position,
  offsets, title, outlet, URL, ``published`` ISO date and ``published_key``
  YYYYMMDD integer for range filters, and the article's ``story`` id
  (:mod:`rag.stories`). The text is metadata, not Chroma's document, because
  Chroma indexes every document for trigram full-text search, which newsrag
  never uses (BM25 is its own): that index took 0.5 ms per chunk to write and
  made the database 1.6x larger. Indexes written with the text as the
  document still read (:func:`chunk_text`).
* ``<name>_articles`` is the manifest, one record per article key: its status
  (``pending`` while being written, ``done``, or ``alias`` of another article),
  the hash of the last completely written version, and its chunk count. An
  article only counts as indexed when its record says ``done``; a record left
  ``pending`` by a killed run is rolled back by :meth:`Store.recover`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag import marker
from rag.config import Settings
from rag.errors import NewsragError, StoreError, index_error
from rag.manifest import TEXT_KEY, ArticleRecord, Status, chunk_text, column
from rag.schema import IndexStats

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE_ID = "__state__"
EXACT_AMONG = 2000  # a dense search among at most this many chunk ids ranks their vectors exactly (see nearest)
CHANGE_LOG_KEEP = 40  # change-log entries kept (two per ingest run), for other processes' lexical indexes
RUN_SILENCE = 600.0  # seconds without word from an ingest run still writing after which it counts as killed
CHANGE_LOG_MAX_IDS = 20_000  # a run that wrote or deleted more chunks is not logged: catching up costs a rebuild


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Chroma failures (a server gone, a broken directory) become a StoreError naming the index."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except NewsragError:
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb and httpx raise many types for one cause
            raise self._failure(exc) from exc

    return wrapper


_Row = tuple[int, Any, str, dict[str, Any]]  # a chunk as :meth:`Store._article_chunks` reads it


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class ChunkChanges:
    """The chunk ids written and deleted through one Store since the store version ``since``: what an ingest
    hands the lexical index, so that it indexes only those (:meth:`rag.lexical.LexicalCache.refresh`)."""

    since: str = ""
    written: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    opened: str = ""  # the version the run's first write moved the store to, when the change log names it


@dataclass(frozen=True)
class LogPath:
    """Where the change log leads from one store version towards another (:meth:`Store.log_between`)."""

    changes: ChunkChanges  # everything the finished runs on the way wrote and deleted
    reached: str  # the version those runs lead to
    writing: bool  # the rest of the way is one run still writing (it last said so within RUN_SILENCE)


class Store:
    """The Chroma index of chunks plus the article manifest."""

    def __init__(self, settings: Settings, embedding_model: str = "") -> None:
        self.settings = settings
        self.embedding_model = embedding_model
        self.client = self._connect()
        name = settings.store.collection
        try:
            self.chunks = self.client.get_or_create_collection(
                name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": embedding_model or "unknown"},
                embedding_function=None,
            )
            self.manifest = self.client.get_or_create_collection(
                f"{name}_articles", metadata={"role": "manifest"}, embedding_function=None
            )
        except Exception as exc:  # noqa: BLE001 - Chroma raises many types for a broken store
            raise self._failure(exc) from exc
        built_with = (self.chunks.metadata or {}).get("embedding_model")
        if embedding_model and built_with not in (None, "unknown", embedding_model):
            raise StoreError(
                f"The index {self.location} was built with the embedding model {built_with!r}, "
                f"but {embedding_model!r} is configured: set [embed] model back, or use another "
                "[paths] index_dir / [store] collection and re-ingest"
            )
        self._max_batch = max(1, min(self.client.get_max_batch_size(), 4000))
        self.changes = ChunkChanges()
        self._warming: threading.Thread | None = None
        self._warm_lock = threading.Lock()

    def warm(self) -> None:
        """Start loading the vector index in the background, embedded (a Chroma server keeps it loaded). A
        process's first query or write of the chunks loads the whole HNSW index first (about 4 s at 1M chunks).
        Started by a writer before it chunks and embeds, or by a question before the lexical index and the model
        load, the load overlaps that work (Chroma's calls release the GIL); :meth:`nearest` and the writer wait
        for it (:meth:`warmed`) before they use the index. Chroma holds every other call on the store until the load
        ends, so what overlaps it must not touch Chroma. Once per store; a failure is left for the query or
        write that follows to report. The thread is not a daemon, so a process never exits while Chroma loads."""
        if self._warming is not None:  # started before (every unfiltered search asks)
            return
        dimension = getattr(getattr(self.chunks, "_model", None), "dimension", None)  # None: nothing written yet
        if self.settings.store.mode != "embedded" or not isinstance(dimension, int):
            return

        def load() -> None:
            try:
                self.chunks.query(query_embeddings=[np.zeros(dimension, dtype=np.float32)], n_results=1, include=[])
            except Exception as exc:  # noqa: BLE001 - reported by the query or write that follows, if it matters
                log.debug("loading the vector index ahead of its first use failed: %s", exc)

        with self._warm_lock:
            if self._warming is None:
                self._warming = threading.Thread(target=load, name="newsrag-warm")
                self._warming.start()

    def warmed(self) -> None:
        """Wait until the background load :meth:`warm` started has finished (at once when none is running)."""
        if self._warming is not None:
            self._warming.join()

    # -- connection --------------------------------------------------------------------

    @property
    def location(self) -> str:
        s = self.settings.store
        if s.mode == "http":
            return f"{'https' if s.ssl else 'http'}://{s.host}:{s.port} (collection {s.collection})"
        return str(self.chroma_dir)

    @property
    def chroma_dir(self) -> Path:
        return self.settings.index_dir / "chroma"

    def _failure(self, exc: Exception) -> StoreError:
        """The typed error for a Chroma failure: a full disk or a folder that cannot be written says so
        (the index is intact, and moving it away would not help); anything else is a broken index."""
        return index_error(exc, self.location) or StoreError(self._broken_message(exc))

    def _broken_message(self, exc: Exception) -> str:
        if self.settings.store.mode == "http":
            return (f"The Chroma server at {self.location} failed or cannot be reached ({type(exc).__name__}: {exc}). "
                    "Is `chroma run` up? Nothing half-written counts: run the same command again once it is.")
        return (
            f"The index at {self.chroma_dir} cannot be opened ({type(exc).__name__}: {exc}). "
            f"Move that folder away and run `newsrag ingest` again to rebuild it."
        )

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        s = self.settings.store
        try:
            if s.mode == "http":
                headers = {}
                raw = os.environ.get(s.headers_env, "")
                if raw:
                    try:
                        headers = {str(k): str(v) for k, v in json.loads(raw).items()}
                    except (ValueError, AttributeError) as exc:
                        raise StoreError(f"{s.headers_env} must hold a JSON object of HTTP headers") from exc
                return chromadb.HttpClient(
                    host=s.host, port=s.port, ssl=s.ssl, headers=headers, settings=chroma_settings
                )
            self.chroma_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.chroma_dir), settings=chroma_settings)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._failure(exc) from exc

    # -- manifest ----------------------------------------------------------------------

    @_guarded
    def records(self, ids: Iterable[str] | None = None) -> dict[str, ArticleRecord]:
        """Manifest records by article id (all of them when ``ids`` is None)."""
        out: dict[str, ArticleRecord] = {}
        if ids is None:
            pages: Iterable[Any] = self._manifest_pages()
        else:
            pages = (self.manifest.get(ids=list(batch), include=["metadatas"])
                     for batch in _batched(list(dict.fromkeys(ids)), self._max_batch))
        for got in pages:
            for rid, meta in zip(got["ids"], got["metadatas"] or []):
                if rid != STATE_ID:
                    out[rid] = ArticleRecord.from_metadata(rid, meta or {})
        return out

    def _manifest_pages(self, where: dict[str, Any] | None = None) -> Iterator[Any]:
        """Manifest entries (matching ``where``) a page at a time: one unbounded get of 140k records fails in
        Chroma's SQLite ("too many SQL variables"), found at 1M chunks (bench/bench_million.py)."""
        offset = 0
        while True:
            got = self.manifest.get(where=where, limit=self._max_batch, offset=offset, include=["metadatas"])
            yield got
            if len(got["ids"]) < self._max_batch:
                return
            offset += self._max_batch

    @_guarded
    def records_by_text(self, text_hashes: Sequence[str]) -> list[ArticleRecord]:
        """Indexed (status "done") article records whose body has one of these text hashes."""
        out: list[ArticleRecord] = []
        for batch in _batched(list(text_hashes), self._max_batch):
            got = self.manifest.get(where={"$and": [{"text_hash": {"$in": list(batch)}}, {"status": "done"}]},
                                    include=["metadatas"])
            out += [ArticleRecord.from_metadata(rid, meta or {}) for rid, meta in zip(got["ids"], got["metadatas"] or [])]
        return out

    @_guarded
    def records_with(self, status: Status) -> list[ArticleRecord]:
        """The manifest records of one status."""
        return [ArticleRecord.from_metadata(rid, meta or {}) for got in self._manifest_pages({"status": status})
                for rid, meta in zip(got["ids"], got["metadatas"] or [])]

    @_guarded
    def put_records(self, records: Sequence[ArticleRecord]) -> None:
        for batch in _batched(list(records), self._max_batch):
            self.manifest.upsert(
                ids=[r.id for r in batch],
                embeddings=[[0.0] for _ in batch],
                metadatas=[r.metadata() for r in batch],
            )

    @_guarded
    def delete_records(self, ids: Sequence[str]) -> None:
        for batch in _batched(list(ids), self._max_batch):
            self.manifest.delete(ids=list(batch))

    # -- chunks ----------------------------------------------------------------------------

    @_guarded
    def upsert_chunks(self, ids: Sequence[str], embeddings: np.ndarray, documents: Sequence[str | None],
                      metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Write chunks; each one's text goes into its metadata (see the module docstring)."""
        self.changes.written.update(ids)
        self.changes.deleted.difference_update(ids)
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self.chunks.upsert(
                ids=list(ids[start:end]),
                embeddings=embeddings[start:end],
                metadatas=[{**m, TEXT_KEY: chunk_text(d, m)} for d, m in zip(documents[start:end], metadatas[start:end])],
            )

    @_guarded
    def delete_article_chunks(self, article_id: str, keep_hash: str = "") -> int:
        """Delete the article's chunks, except those written for ``keep_hash``; returns how many."""
        where: dict[str, Any] = {"article_id": article_id}
        if keep_hash:
            where = {"$and": [where, {"article_hash": {"$ne": keep_hash}}]}
        stale = self.chunks.get(where=where, include=[])["ids"]
        self.changes.deleted.update(stale)
        self.changes.written.difference_update(stale)
        for batch in _batched(stale, self._max_batch):
            self.chunks.delete(ids=list(batch))
        return len(stale)

    @_guarded
    def count_chunks(self, article_id: str | None = None) -> int:
        if article_id is None:
            return self.chunks.count()
        return len(self.chunks.get(where={"article_id": article_id}, include=[])["ids"])

    @_guarded
    def get_chunks(self, ids: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, text, metadata) of the chunks ``ids`` that exist, in Chroma's order."""
        got = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        return [(cid, chunk_text(doc, meta or {}), dict(meta or {}))
                for cid, doc, meta in zip(got["ids"], column(got, "documents"), column(got, "metadatas"))]

    @_guarded
    def nearest(self, vector: np.ndarray, n: int, among: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the ``n`` chunks nearest ``vector``, optionally only ``among`` these ids.
        Ids and distances only: Chroma reads documents and metadata slowly inside a query (80 ms at 22k chunks
        against 2 ms), so callers read the chunks they keep with :meth:`get_chunks`."""
        if among is not None and len(among) <= EXACT_AMONG:
            return self._exact_nearest(vector, n, among)
        self.warmed()
        got = self.chunks.query(query_embeddings=[vector], n_results=n, ids=list(among) if among is not None else None,
                                include=["distances"])
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(got["ids"][0], (got.get("distances") or [[]])[0])]

    def _exact_nearest(self, vector: np.ndarray, n: int, ids: Sequence[str]) -> list[tuple[str, float]]:
        """The ``n`` of ``ids`` nearest ``vector``, ranked exactly over their stored vectors. Chroma's search among
        a few ids is approximate: at 1M chunks it shared 33-47 of its top 50 with the exact ones for 1,188 ids."""
        found: list[str] = []
        vectors: list[np.ndarray] = []
        for batch in _batched(list(ids), self._max_batch):
            got = self.chunks.get(ids=list(batch), include=["embeddings"])
            found += got["ids"]
            vectors.append(np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1))
        if not found:
            return []
        matrix = np.concatenate(vectors)
        sims = matrix @ vector / np.maximum(np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector), 1e-12)
        order = np.argsort(-sims, kind="stable")[:n]
        return [(found[i], float(sims[i])) for i in order]

    def _article_chunks(self, article_ids: Sequence[str], embeddings: bool) -> dict[str, list[_Row]]:
        """Each article's chunks as (position, embedding or None, text, metadata), in position order."""
        out: dict[str, list[_Row]] = {}
        include = ["embeddings", "documents", "metadatas"] if embeddings else ["documents", "metadatas"]
        for batch in _batched(list(article_ids), self._max_batch):
            got = self.chunks.get(where={"article_id": {"$in": list(batch)}}, include=include)
            vectors = got["embeddings"] if embeddings else [None] * len(got["ids"])
            for vector, doc, meta in zip(vectors, column(got, "documents"), column(got, "metadatas")):
                meta = dict(meta or {})
                out.setdefault(str(meta.get("article_id", "")), []).append(
                    (int(meta.get("position", 0)), vector, chunk_text(doc, meta), meta))
        return {aid: sorted(rows, key=lambda r: r[0]) for aid, rows in out.items()}

    @_guarded
    def story_chunks(self, article_ids: Sequence[str]) -> dict[str, list[tuple[np.ndarray, str, dict[str, Any]]]]:
        """Each article's chunks as (embedding, text, metadata), in position order: what :mod:`rag.stories`
        rebuilds an article's features from."""
        return {aid: [(np.asarray(v, dtype=np.float32), t, m) for _, v, t, m in rows]
                for aid, rows in self._article_chunks(article_ids, embeddings=True).items()}

    @_guarded
    def article_chunks(self, article_ids: Sequence[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Each article's chunks as (text, metadata), in position order, without embeddings: the figures of a
        story's timeline are read from its articles' whole texts."""
        return {aid: [(t, m) for _, _, t, m in rows] for aid, rows in self._article_chunks(article_ids, False).items()}

    @_guarded
    def first_chunks(self, article_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Each article's first chunk (position 0) as (text, metadata): where its lead is (timelines, digests).
        No embeddings and no later chunks are read."""
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for batch in _batched(list(article_ids), self._max_batch):
            got = self.chunks.get(where={"$and": [{"article_id": {"$in": list(batch)}}, {"position": 0}]},
                                  include=["documents", "metadatas"])
            for doc, meta in zip(column(got, "documents"), column(got, "metadatas")):
                meta = dict(meta or {})
                out[str(meta.get("article_id", ""))] = (chunk_text(doc, meta), meta)
        return out

    @_guarded
    def set_story(self, article_id: str, story: str) -> None:
        """Write an article's story id into its chunks' metadata (an index built before stories)."""
        got = self.chunks.get(where={"article_id": article_id}, include=["metadatas"])
        if got["ids"]:
            self.chunks.update(ids=got["ids"], metadatas=[{**(m or {}), "story": story} for m in column(got, "metadatas")])

    def pages(self, batch: int = 2000, include: Sequence[str] = ("documents", "metadatas")) -> Iterator[Any]:
        """Every chunk, ``batch`` at a time, as Chroma returns them (``ids`` plus the ``include`` fields)."""
        for offset in range(0, self.chunks.count(), batch):
            got = self.chunks.get(limit=batch, offset=offset, include=list(include))
            if not got["ids"]:
                break
            yield got

    def iter_chunks(self, batch: int = 2000, include: Sequence[str] = ("documents", "metadatas")) -> Iterator[dict[str, Any]]:
        """Every chunk, in pages: dicts with ``id``, ``document`` and ``metadata``."""
        for got in self.pages(batch, include):
            for cid, doc, meta in zip(got["ids"], column(got, "documents"), column(got, "metadatas")):
                meta = dict(meta or {})
                yield {"id": cid, "document": chunk_text(doc, meta), "metadata": meta}

    # -- recovery and state ----------------------------------------------------------------

    @_guarded
    def recover(self) -> list[str]:
        """Finish or undo what a killed run left ``pending``; returns the ids it touched.

        Roll forward when every chunk of the new version is present, back when the
        last complete version is intact, and otherwise forget the article (its file
        is indexed afresh by the next ingest).
        """
        fixed: list[str] = []
        finished: list[ArticleRecord] = []
        forgotten: list[str] = []
        for record in self.records_with("pending"):
            rid = record.id
            fixed.append(rid)
            if self._count(rid, record.pending_hash) == record.pending_chunks > 0:
                self.delete_article_chunks(rid, keep_hash=record.pending_hash)
                finished.append(replace(record, status="done", hash=record.pending_hash, chunks=record.pending_chunks,
                                        pending_hash="", pending_chunks=0))
            elif record.hash and self._count(rid, record.hash) == record.chunks > 0:
                self.delete_article_chunks(rid, keep_hash=record.hash)
                finished.append(replace(record, status="done", pending_hash="", pending_chunks=0))
            else:
                self.delete_article_chunks(rid)
                forgotten.append(rid)
        if finished:
            self.put_records(finished)
        if forgotten:
            self.delete_records(forgotten)
        if fixed:
            log.warning("recovered %d article(s) left half-written by an interrupted run", len(fixed))
            self.touch()
        return fixed

    @_guarded
    def audit(self) -> list[str]:
        """After an interrupted run, beyond :meth:`recover`: one scan of every chunk's metadata makes each
        done article's chunks exactly its own. Chunks of no done article version are deleted; a done
        article missing chunks (a kill between deleting chunks and records) is forgotten, so the next run
        that reaches its file indexes it afresh. Returns the ids forgotten."""
        done = {r.id: r for r in self.records_with("done")}
        counts: Counter[str] = Counter()
        stray: list[str] = []
        for got in self.pages(include=("metadatas",)):
            for cid, meta in zip(got["ids"], column(got, "metadatas")):
                record = done.get(str((meta or {}).get("article_id", "")))
                if record is None or (meta or {}).get("article_hash") != record.hash:
                    stray.append(cid)
                else:
                    counts[record.id] += 1
        for batch in _batched(stray, self._max_batch):
            self.chunks.delete(ids=list(batch))
        short = [rid for rid, record in done.items() if counts[rid] != record.chunks]
        for rid in short:
            self.delete_article_chunks(rid)
        self.delete_records(short)
        if stray or short:
            log.warning("removed %d stray chunk(s) and %d article(s) missing chunks", len(stray), len(short))
        return short

    @_guarded
    def _count(self, article_id: str, article_hash: str) -> int:
        if not article_hash:
            return 0
        where = {"$and": [{"article_id": article_id}, {"article_hash": article_hash}]}
        return len(self.chunks.get(where=where, include=[])["ids"])

    @_guarded
    def stats(self) -> IndexStats:
        """Articles, chunks, aliases, outlets and date range of the index, and whether the last ingest was
        interrupted (then these counts are partial; see :mod:`rag.marker`)."""
        records = self.records()
        done = [r for r in records.values() if r.status == "done"]
        outlets = Counter(r.outlet or "(unknown)" for r in done)
        dates = sorted(r.published for r in done if r.published)
        return IndexStats(
            articles=len(done),
            chunks=self.count_chunks(),
            aliases=sum(1 for r in records.values() if r.status == "alias"),
            outlets=tuple(outlets.most_common()),
            first_date=date.fromisoformat(dates[0]) if dates else None,
            last_date=date.fromisoformat(dates[-1]) if dates else None,
            location=self.location,
            embedding_model=str((self.chunks.metadata or {}).get("embedding_model", self.embedding_model)),
            interrupted=marker.interruption(self.settings.index_dir, sum(r.status == "pending" for r in records.values())),
        )

    def track_changes(self) -> ChunkChanges:
        """Start recording the chunks written and deleted from now on (see :class:`ChunkChanges`)."""
        self.changes = ChunkChanges(self.version())
        return self.changes

    @_guarded
    def touch(self, changes: ChunkChanges | None = None, *, opening: bool = False) -> str:
        """Record that the index changed (the BM25 index and caches key on this). The last-run files
        (:mod:`rag.marker`) are deleted first, so none outlives a change to Chroma, even one killed
        half-way: an ingest run deletes them when it starts, and every other writer (a copy into this
        store) bumps the version before its first write.

        With the ``changes`` a run made, they are first written to the store's change log under the new
        version, so that another process's lexical index at ``changes.since`` catches up by indexing just
        those chunks (:meth:`log_between`). ``opening``: the bump before a run's first write, logged as the
        run's open entry (no chunk ids, ``changes.opened``), which says to other processes that the run is
        writing; its closing bump then logs its changes from there."""
        marker.forget_last_runs(self.settings.index_dir)
        version = uuid.uuid4().hex
        if changes is not None and changes.since and opening:
            self._log_entry(version, {"since": changes.since, "run": version, "open": True}, ChunkChanges())
            changes.opened = version
        elif changes is not None and changes.since and len(changes.written) + len(changes.deleted) <= CHANGE_LOG_MAX_IDS:
            self._log_entry(version, {"since": changes.opened or changes.since, "run": changes.opened}, changes)
        self.manifest.upsert(ids=[STATE_ID], embeddings=[[0.0]], metadatas=[{"version": version, "at": time.time()}])
        return version

    @_guarded
    def still_writing(self, changes: ChunkChanges) -> None:
        """An open run says it is still writing (see :data:`RUN_SILENCE`)."""
        if changes.opened and (log_ := self._change_log(create=False)) is not None:
            log_.update(ids=[changes.opened], metadatas=[{"alive": time.time()}])

    def _change_log(self, create: bool) -> Any:
        name = f"{self.settings.store.collection}_changes"
        if create:
            return self.client.get_or_create_collection(name, metadata={"role": "changes"}, embedding_function=None)
        try:
            return self.client.get_collection(name, embedding_function=None)
        except Exception:  # noqa: BLE001 - Chroma's not-found error differs between the embedded and HTTP clients
            return None

    def _log_entry(self, version: str, meta: dict[str, Any], changes: ChunkChanges) -> None:
        """One entry, the chunk ids as its document, so that trimming the log reads only the metadata."""
        log_ = self._change_log(create=True)
        now = time.time()
        log_.upsert(ids=[version], embeddings=[[0.0]], metadatas=[{**meta, "at": now, "alive": now}],
                    documents=[json.dumps({"written": sorted(changes.written), "deleted": sorted(changes.deleted)})])
        got = log_.get(include=["metadatas"])
        if len(got["ids"]) > CHANGE_LOG_KEEP:
            ages = sorted(zip((float((m or {}).get("at", 0)) for m in got["metadatas"] or []), got["ids"]))
            log_.delete(ids=[rid for _, rid in ages[:len(ages) - CHANGE_LOG_KEEP]])

    @_guarded
    def log_between(self, since: str, version: str) -> LogPath | None:
        """How the logged runs lead from store version ``since`` to ``version``: what they wrote and deleted,
        as one set of changes, and whether the last of them is still writing (its open entry is ``version``).
        None when the log does not lead there: a run not logged, two runs that started from one version, a
        run whose open entry no closing one follows (killed, and another run went on from its version), or
        an open run silent for longer than RUN_SILENCE (killed)."""
        log_ = self._change_log(create=False)
        if log_ is None or not since:
            return None
        total = ChunkChanges(since)
        current, run = since, ""
        for _ in range(CHANGE_LOG_KEEP):
            got = log_.get(where={"since": current}, include=["documents", "metadatas"])
            if len(got["ids"]) != 1:
                return None
            meta = (got["metadatas"] or [{}])[0] or {}
            if run and meta.get("run") != run:
                return None
            if meta.get("open"):
                run = got["ids"][0]
                if run == version:
                    alive = time.time() - float(meta.get("alive", 0)) <= RUN_SILENCE
                    return LogPath(total, current, True) if alive else None
            else:
                try:
                    entry = json.loads((got["documents"] or [""])[0] or "")
                    total.written.update(entry["written"])
                    total.deleted.update(entry["deleted"])
                except (KeyError, TypeError, ValueError):
                    return None
                run = ""
            current = got["ids"][0]
            if current == version:
                return LogPath(total, current, False)
        return None

    @_guarded
    def version(self) -> str:
        got = self.manifest.get(ids=[STATE_ID], include=["metadatas"])
        metas = got.get("metadatas") or []
        return str(metas[0].get("version", "")) if metas and metas[0] else ""


def copy_store(source: Store, target: Store, batch: int = 1000) -> tuple[int, int]:
    """Copy every chunk (with its embedding) and every manifest record from one store into another.

    Idempotent: ids are kept, so running it again rewrites the same records. Returns (chunks, articles).
    The target's version is bumped before the first write as well as after the last, so a copy that
    fails or is killed half-way never leaves an index built from the target before it counting as current.
    """
    target.touch()
    chunks = 0
    for got in source.pages(batch, ("documents", "metadatas", "embeddings")):
        target.upsert_chunks(got["ids"], np.asarray(got["embeddings"], dtype=np.float32),
                             column(got, "documents"), got["metadatas"] or [])
        chunks += len(got["ids"])
    records = list(source.records().values())
    target.put_records(records)
    target.touch()
    return chunks, len(records)


def copy_index(settings: Settings, target_settings: Settings) -> tuple[int, int, str, str]:
    """Copy the index of ``settings`` into the store of ``target_settings`` (for example a Chroma server) and
    build the target's lexical index. Returns (chunks, articles, source location, target location)."""
    from rag.embed import get_embedder
    from rag.lexical import build_lexical_cache

    name = get_embedder(settings.embed).name
    source, target = get_store(settings, name), get_store(target_settings, name)
    if source.location == target.location:
        raise NewsragError("the source and the target are the same index")
    chunks, articles = copy_store(source, target)
    build_lexical_cache(target_settings, target).refresh()
    return chunks, articles, source.location, target.location


_STORES: dict[tuple[Any, ...], Store] = {}
_STORES_LOCK = threading.Lock()


def get_store(settings: Settings, embedding_model: str = "") -> Store:
    """The shared Store for these settings (one Chroma client per index in a process)."""
    key = (settings.store, str(settings.index_dir), embedding_model)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = Store(settings, embedding_model)
        return store
