"""Incremental indexing: load, hash, diff, chunk, embed, write, report per article.

Every article goes through the manifest (see :mod:`rag.store`): its record is
marked ``pending`` before any of its chunks is written and ``done`` only after
all of them are, so a run killed at any moment leaves nothing that counts as
indexed half-way; the next run's :meth:`Store.recover` rolls such records
forward (all new chunks present) or back (old version intact) or forgets them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ingest.chunk import Chunker
from ingest.load import LoadedFile, discover, load_file, source_name
from rag.bm25 import lexical_cache
from rag.config import Settings
from rag.embed import Embedder, get_embedder
from rag.errors import LoadError
from rag.schema import Article, ArticleReport, Chunk, IngestReport, Outcome
from rag.store import ArticleRecord, Store, chunk_metadata, open_store

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"  # bump when cleaning or chunking changes in a way that needs re-embedding


@dataclass(frozen=True)
class Progress:
    """Sent to the progress callback after each file and each written batch."""

    files_done: int
    files_total: int
    articles_done: int
    chunks_embedded: int
    current: str = ""


ProgressCallback = Callable[[Progress], None]
ReportCallback = Callable[[ArticleReport], None]

_PROCESS_LOCK = threading.Lock()


@contextlib.contextmanager
def index_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time: a thread lock in this process plus a file lock across processes."""
    with _PROCESS_LOCK:
        if settings.store.mode != "embedded":
            yield
            return
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        with open(settings.index_dir / "ingest.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("another ingest is writing to %s; waiting for it to finish", settings.index_dir)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def fingerprint(settings: Settings, embedder: Embedder) -> str:
    """What, besides an article's content, decides its chunks and vectors."""
    c = settings.chunk
    return (f"v{FORMAT_VERSION}|{embedder.name}|{embedder.precision}|{embedder.max_tokens}|{c.chunk_tokens}|{c.overlap_tokens}"
            f"|{c.title_prefix}|{c.title_max_tokens}")


def record_for(article: Article, **fields: object) -> ArticleRecord:
    return ArticleRecord(
        id=article.id, key=article.key, source=article.source, title=article.title, outlet=article.outlet,
        url=article.url, published=article.published.isoformat() if article.published else "",
        text_hash=article.text_hash(), updated=time.time(), **fields,  # type: ignore[arg-type]
    )


class Indexer:
    """Writes articles into a :class:`Store`; one instance per ingest run."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder,
                 on_report: ReportCallback | None = None) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.chunker = Chunker(settings.chunk, embedder.count_tokens, embedder.max_tokens, embedder.count_tokens_batch)
        self.fingerprint = fingerprint(settings, embedder)
        self.on_report = on_report
        self.reports: list[ArticleReport] = []
        self.seen_ids: set[str] = set()
        # text hash -> the article indexed (or kept) in this run, without its text: memory stays flat
        self.run_texts: dict[str, Article] = {}
        self.aliases_seen: dict[str, list[Article]] = {}  # original id -> its aliases seen in this run
        self.chunks_embedded = 0
        self.changed = False
        self.started = time.perf_counter()

    def result(self) -> IngestReport:
        return IngestReport(tuple(self.reports), time.perf_counter() - self.started, self.chunks_embedded)

    def report(self, item: ArticleReport) -> None:
        self.reports.append(item)
        if self.on_report:
            self.on_report(item)

    # -- one batch --------------------------------------------------------------------------

    def process(self, articles: Sequence[Article]) -> None:
        """Diff a batch of articles against the manifest and write what changed."""
        fresh: list[Article] = []
        for article in articles:
            if article.id in self.seen_ids:
                self.report(ArticleReport(article.source, "duplicate", article.title, article.id, 0,
                                          f"same URL as another article in this run ({article.url}); kept the first"))
                continue
            self.seen_ids.add(article.id)
            fresh.append(article)
        articles = fresh
        records = self.store.records(a.id for a in articles)
        hashes = {a.id: a.content_hash(self.fingerprint) for a in articles}
        originals = self._originals(articles)
        to_write: list[Article] = []
        aliases: list[ArticleRecord] = []
        for article in articles:
            record = records.get(article.id)
            digest = hashes[article.id]
            text_hash = article.text_hash()
            original = self.run_texts.get(text_hash) or originals.get(text_hash)
            if original is not None and original.id == article.id:
                original = None
            if record and record.status == "done" and record.hash == digest and original is None:
                self.run_texts.setdefault(text_hash, replace(article, text=""))
                self.report(ArticleReport(article.source, "unchanged", article.title, article.id, record.chunks,
                                          article.note))
            elif original is not None:
                self.aliases_seen.setdefault(original.id, []).append(article)
                unchanged = record and record.status == "alias" and record.alias_of == original.id
                if not unchanged:
                    if record and record.status == "done":
                        self.store.delete_article_chunks(article.id)
                    aliases.append(record_for(article, status="alias", alias_of=original.id))
                self.report(ArticleReport(article.source, "duplicate", article.title, article.id, 0,
                                          f"same text as {original.source}" + (f" ({original.url})" if original.url else "")))
            else:
                self.run_texts[text_hash] = replace(article, text="")
                to_write.append(article)
        if aliases:
            self.store.put_records(aliases)
            self.changed = True
        if to_write:
            self._write(to_write, records, hashes)

    def _originals(self, articles: Sequence[Article]) -> dict[str, Article]:
        """Already-indexed articles with the same body text as any of these, by text hash."""
        wanted = list({a.text_hash() for a in articles} - set(self.run_texts))
        if not wanted:
            return {}
        out: dict[str, Article] = {}
        for rec in self.store.records_by_text(wanted):
            out.setdefault(rec.text_hash, Article(key=rec.key, title=rec.title, text="", source=rec.source,
                                                  outlet=rec.outlet, url=rec.url))
        return out

    def _write(self, articles: Sequence[Article], records: dict[str, ArticleRecord],
               hashes: dict[str, str]) -> None:
        self.chunker.warm([a.text for a in articles])
        chunked: list[tuple[Article, list[Chunk]]] = [(a, self.chunker.split(a, hashes[a.id])) for a in articles]
        all_chunks = [c for _, cs in chunked for c in cs]
        step = max(1, self.settings.ingest.batch_chunks)  # one long article must not tokenize all its chunks at once
        vectors = np.concatenate([self.embedder.embed_documents([c.embed_text for c in all_chunks[i : i + step]])
                                  for i in range(0, len(all_chunks), step)]) if all_chunks else np.zeros((0, 0))
        self.chunks_embedded += len(all_chunks)
        pending = [
            record_for(a, status="pending", hash=records[a.id].hash if a.id in records else "",
                       chunks=records[a.id].chunks if a.id in records else 0,
                       pending_hash=hashes[a.id], pending_chunks=len(cs))
            for a, cs in chunked
        ]
        self.store.put_records(pending)
        self.changed = True
        metadatas: list[dict[str, object]] = []
        for article, chunks in chunked:
            metadatas.extend(chunk_metadata(c, article, hashes[article.id]) for c in chunks)
        self.store.upsert_chunks([c.id for c in all_chunks], np.asarray(vectors), [c.text for c in all_chunks],
                                 metadatas)
        for article, _ in chunked:
            if article.id in records:
                self.store.delete_article_chunks(article.id, keep_hash=hashes[article.id])
        self.store.put_records([
            replace(rec, status="done", hash=rec.pending_hash, pending_hash="", chunks=rec.pending_chunks,
                    pending_chunks=0)
            for rec in pending
        ])
        for article, chunks in chunked:
            previous = records.get(article.id)
            outcome: Outcome = "updated" if previous and previous.hash else "added"
            self.report(ArticleReport(article.source, outcome, article.title, article.id, len(chunks), article.note))

    # -- prune --------------------------------------------------------------------------------

    def prune(self, scopes: Sequence[Path], failed_sources: set[str]) -> None:
        """Remove articles whose file lies in ``scopes`` but was not seen in this run."""
        root = self.settings.articles_dir
        gone: list[tuple[ArticleRecord, Path]] = []
        for record in self.store.records().values():
            fetched_from_web = record.key.startswith("url:") and "://" in record.source
            if record.id in self.seen_ids or fetched_from_web or record.source in failed_sources:
                continue
            path = Path(record.source)
            path = (path if path.is_absolute() else root / path).resolve()
            if any(path == s or s in path.parents for s in scopes):
                gone.append((record, path))
        for record, _ in gone:
            self.store.delete_article_chunks(record.id)
        if gone:
            self.store.delete_records([r.id for r, _ in gone])
            self.changed = True
        for record, path in gone:
            self.report(ArticleReport(record.source, "removed", record.title, record.id, 0,
                                      "no longer in its file" if path.exists() else "its file is gone"))
        # Aliases of removed originals become articles of their own.
        orphans = [a for r, _ in gone for a in self.aliases_seen.get(r.id, [])]
        if orphans:
            for article in orphans:
                self.run_texts.pop(article.text_hash(), None)
                self.reports = [x for x in self.reports if not (x.article_id == article.id and x.outcome == "duplicate")]
            self.seen_ids.difference_update(a.id for a in orphans)
            self.process(orphans)


def iter_loaded(files: Iterable[Path], settings: Settings) -> Iterator[tuple[Path, LoadedFile | LoadError]]:
    max_bytes = int(settings.ingest.max_file_mb * 1_000_000)
    root = settings.articles_dir
    for path in files:
        try:
            yield path, load_file(path, root=root, max_bytes=max_bytes)
        except LoadError as exc:
            yield path, exc
        except Exception as exc:  # noqa: BLE001 - one broken file never aborts the batch
            log.exception("unexpected error while reading %s", path)
            yield path, LoadError(f"unexpected error while reading: {type(exc).__name__}: {exc}")


def ingest_paths(
    paths: Sequence[str | Path],
    settings: Settings,
    *,
    prune: bool = False,
    embedder: Embedder | None = None,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
    on_report: ReportCallback | None = None,
) -> IngestReport:
    """Index every article file under ``paths`` incrementally; see the module docstring."""
    with indexing(settings, embedder, store, on_report) as indexer:
        resolved = [Path(p).expanduser() for p in paths]
        missing = [p for p in resolved if not p.exists()]
        for path in missing:
            indexer.report(ArticleReport(str(path), "failed", reason="no such file or folder"))
        files, _skipped = discover([p for p in resolved if p.exists()])
        failed_sources: set[str] = set()
        batch: list[Article] = []
        batch_chars = 0
        limit = settings.ingest.batch_chunks * 700  # ~ characters per chunk
        for done, (path, loaded) in enumerate(iter_loaded(files, settings), start=1):
            if isinstance(loaded, LoadError):
                source = source_name(path, settings.articles_dir)
                failed_sources.add(source)
                indexer.report(ArticleReport(source, "failed", reason=str(loaded)))
            else:
                for where, reason in loaded.errors:
                    indexer.report(ArticleReport(f"{loaded.source} ({where.split(' ', 1)[-1]})", "failed",
                                                 reason=reason))
                for where, title, reason in loaded.repeats:
                    indexer.report(ArticleReport(f"{loaded.source} ({where.split(' ', 1)[-1]})", "duplicate", title,
                                                 reason=reason))
                if loaded.errors:
                    failed_sources.add(loaded.source)
                for article in loaded.articles:
                    batch.append(article)
                    batch_chars += len(article.text)
                    if batch_chars >= limit:
                        indexer.process(batch)
                        batch, batch_chars = [], 0
                        if progress:
                            progress(Progress(done - 1, len(files), len(indexer.reports), indexer.chunks_embedded,
                                              path.name))
        if batch:
            indexer.process(batch)
        if prune:
            indexer.prune([p.resolve() for p in resolved if p.exists()], failed_sources)
    if progress:
        progress(Progress(len(files), len(files), len(indexer.reports), indexer.chunks_embedded, ""))
    return indexer.result()


def ingest_articles(articles: Sequence[Article], settings: Settings, *, embedder: Embedder | None = None,
                    store: Store | None = None) -> IngestReport:
    """Index articles built in memory (pasted in the UI, fetched from the web)."""
    with indexing(settings, embedder, store) as indexer:
        indexer.process(list(articles))
    return indexer.result()


@contextlib.contextmanager
def indexing(settings: Settings, embedder: Embedder | None = None, store: Store | None = None,
             on_report: ReportCallback | None = None) -> Iterator[Indexer]:
    """One ingest run: take the writer lock, recover what a killed run left, and afterwards, if anything
    changed, mark the store changed and rebuild the BM25 index so the next question does not pay for it."""
    started = time.perf_counter()  # the run's time includes opening the store and any recovery
    embedder = embedder or get_embedder(settings.embed)
    store = store or open_store(settings, embedder.name)
    with index_lock(settings):
        store.recover()
        indexer = Indexer(settings, store, embedder, on_report)
        indexer.started = started
        yield indexer
        if indexer.changed:
            store.touch()
            lexical_cache(settings, store).refresh()

