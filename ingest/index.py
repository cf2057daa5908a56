"""Incremental indexing: load, hash, diff, chunk, embed, write, report per article.

Every article goes through the manifest (see :mod:`rag.manifest`): its record is
marked ``pending`` before any of its chunks is written and ``done`` only after
all of them are, so a run killed at any moment leaves nothing that counts as
indexed half-way; the next run's :meth:`Store.recover` rolls such records
forward (all new chunks present) or back (old version intact) or forgets them.

Around that, a run writes the ingest marker (:mod:`rag.marker`) first and
removes it last; bumps the store's version before its first write and after its
last; settles aliases whose original changed; and makes the lexical index agree
with Chroma before it removes the marker. So a kill at any point leaves either a
finished index or a marker, and the run after a marker recovers, rebuilds the
lexical index and says so in its report's notes. An ingest of files that finishes
cleanly then writes what it read to its last-run file (:mod:`ingest.lastrun`), so that running it
again on the same files can say "unchanged" without opening the index.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from ingest import lastrun
from ingest.chunk import Chunker
from ingest.failures import FailedFiles
from ingest.files import place, source_name, within
from ingest.load import LoadedFile, load_file
from ingest.published import resolve_yearless
from rag import marker
from rag.config import Settings
from rag.embed import Embedder, get_embedder
from rag.errors import LoadError
from rag.lexical import build_lexical_cache, robust_today
from rag.manifest import ArticleRecord, chunk_metadata
from rag.outlets import outlet_names
from rag.schema import Article, ArticleReport, Chunk, IngestReport, Outcome
from rag.store import Store, get_store
from rag.stories import StoryTable, features, load_story_table, sync, table_path

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"  # bump when cleaning or chunking changes in a way that needs re-embedding
STILL_WRITING_EVERY = 60.0  # seconds between a run's words that it is still writing (see rag.store.RUN_SILENCE)


@dataclass(frozen=True)
class Progress:
    """Sent to the progress callback after each file and each written batch."""

    files_done: int
    files_total: int
    articles_done: int
    chunks_embedded: int


ProgressCallback = Callable[[Progress], None]
ReportCallback = Callable[[ArticleReport], None]

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
        self.outlets = outlet_names(settings.ingest.outlets)
        self.on_report = on_report
        self.reports: list[ArticleReport] = []
        self.seen_ids: set[str] = set()
        # text hash -> the article indexed (or kept) in this run, without its text: memory stays flat
        self.run_texts: dict[str, Article] = {}
        self.aliases_seen: dict[str, list[Article]] = {}  # original id -> its aliases seen in this run
        self.chunks_embedded = 0
        self.changed = False  # True from just before this run's first write to the index
        self.said = 0.0  # when (time.monotonic) this run last said in the change log that it is writing
        self.notes: list[str] = []  # what this run found wrong with the index and repaired
        self.scan: lastrun.Scan | None = None  # the files an ingest of paths read, for its last-run file
        self.started = time.perf_counter()
        self.stories: StoryTable | None = None  # the story table, when [stories] enabled (see rag.stories)
        self.story_seconds = 0.0  # time spent on stories in this run
        self.days: dict[str, int] = {}  # article id -> publication day (ordinal): dated articles, for _yeared
        self.days_read = False  # the index's dates are in self.days

    def result(self) -> IngestReport:
        return IngestReport(tuple(self.reports), time.perf_counter() - self.started, self.chunks_embedded,
                            tuple(self.notes))

    def changing(self) -> None:
        """Call before every write: the first one bumps the store's version, so an index built from the
        store before this run (the lexical index, caches) no longer counts as current, even if the run is
        killed before its closing bump. That bump is logged as the run's open entry, which other processes'
        lexical indexes follow to keep answering until the run ends; later writes say, now and then, that
        the run is still writing (:meth:`rag.store.Store.still_writing`)."""
        now = time.monotonic()
        if not self.changed:
            self.store.touch(self.store.changes, opening=True)
            self.changed, self.said = True, now
        elif now - self.said >= STILL_WRITING_EVERY:
            self.store.still_writing(self.store.changes)
            self.said = now

    def report(self, item: ArticleReport) -> None:
        self.reports.append(item)
        if self.on_report:
            self.on_report(item)

    # -- one batch --------------------------------------------------------------------------

    def process(self, batch: Sequence[Article]) -> None:
        """Diff a batch of articles against the manifest and write what changed. The batch is reported in
        its own order, however each article went, as a run that finds it all unchanged reports it. Outlets are
        normalised here, the one door every article passes (files, URLs, pasted text, aliases read again), so a
        changed ``[ingest] outlets`` table changes the content hash of the articles it renames."""
        batch = self._yeared([self._named(article) for article in batch])
        slots: list[ArticleReport | None] = []
        articles: list[Article] = []
        slot_of: dict[str, int] = {}
        for article in batch:
            if article.id in self.seen_ids:
                slots.append(ArticleReport(article.source, "duplicate", article.title, article.id, 0,
                                           f"same URL as another article in this run ({article.url}); kept the first"))
                continue
            self.seen_ids.add(article.id)
            slot_of[article.id] = len(slots)
            slots.append(None)
            articles.append(article)
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
                slots[slot_of[article.id]] = ArticleReport(article.source, "unchanged", article.title, article.id,
                                                           record.chunks, article.note)
            elif original is not None:
                self.aliases_seen.setdefault(original.id, []).append(article)
                unchanged = (record and record.status == "alias" and record.alias_of == original.id
                             and record.outlet == article.outlet)
                if not unchanged:
                    self.changing()
                    if record and record.status == "done":
                        self.store.delete_article_chunks(article.id)
                        self._unstory([article.id])
                    aliases.append(record_for(article, status="alias", alias_of=original.id))
                slots[slot_of[article.id]] = ArticleReport(
                    article.source, "duplicate", article.title, article.id, 0,
                    f"same text as {original.source}" + (f" ({original.url})" if original.url else ""))
            else:
                self.run_texts[text_hash] = replace(article, text="")
                to_write.append(article)
        if aliases:
            self.changing()
            self.store.put_records(aliases)
        if to_write:
            for item in self._write(to_write, records, hashes):
                slots[slot_of[item.article_id]] = item
        for slot in slots:
            assert slot is not None, "every article of a batch is reported"
            self.report(slot)

    def _named(self, article: Article) -> Article:
        """The article with its outlet's canonical name (:mod:`rag.outlets`)."""
        outlet = self.outlets.canonical(article.outlet)
        return article if outlet == article.outlet else replace(article, outlet=outlet)

    def _yeared(self, batch: list[Article]) -> list[Article]:
        """The batch with each date read without a year (``Article.yearless``) in the year nearest the corpus's
        "today" (:func:`rag.lexical.robust_today` over the dated articles indexed and of this run, this batch's
        included), never after the real today: a 2023 archive's "Sept 5 (Reuters)" is 5 September 2023."""
        for article in batch:
            if article.published is not None and not article.yearless:
                self.days[article.id] = article.published.toordinal()
        if not any(a.yearless for a in batch):
            return batch
        if not self.days_read:  # the index's dated articles, read once and only when needed
            self.days_read = True
            for record in self.store.records().values():
                if record.published and not record.alias_of and record.id not in self.days:
                    self.days[record.id] = date.fromisoformat(record.published).toordinal()
        today = date.today()
        reference = robust_today(np.sort(np.fromiter(self.days.values(), dtype=np.int64)), today) or today
        out = []
        for article in batch:
            day = resolve_yearless(article.yearless, reference, today) if article.yearless else None
            if day is not None and day != article.published:
                note = f"date read without a year; {day:%-d %B %Y} is the nearest to the corpus's today ({reference})"
                article = replace(article, published=day, note="; ".join(filter(None, (article.note, note))))
            out.append(article)
        return out

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
               hashes: dict[str, str]) -> list[ArticleReport]:
        """Chunk, embed and write these articles (see the module docstring); their reports."""
        self.store.warm()  # Chroma loads its vector index for the write while the articles are chunked and embedded
        try:
            self.chunker.warm([a.text for a in articles])
            chunked: list[tuple[Article, list[Chunk]]] = [(a, self.chunker.split(a, hashes[a.id])) for a in articles]
            all_chunks = [c for _, cs in chunked for c in cs]
            step = max(1, self.settings.ingest.batch_chunks)  # one long article must not tokenize all its chunks at once
            vectors = np.concatenate([self.embedder.embed_documents([c.embed_text for c in all_chunks[i : i + step]])
                                      for i in range(0, len(all_chunks), step)]) if all_chunks else np.zeros((0, 0))
        finally:
            self.store.warmed()
        self.chunks_embedded += len(all_chunks)
        pending = [
            record_for(a, status="pending", hash=records[a.id].hash if a.id in records else "",
                       chunks=records[a.id].chunks if a.id in records else 0,
                       pending_hash=hashes[a.id], pending_chunks=len(cs))
            for a, cs in chunked
        ]
        self.changing()
        self.store.put_records(pending)
        metadatas: list[dict[str, object]] = []
        start = 0
        for article, chunks in chunked:
            story = self._story(article, hashes[article.id], vectors[start : start + len(chunks)], chunks)
            start += len(chunks)
            metadatas.extend(chunk_metadata(c, article, hashes[article.id], story) for c in chunks)
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
        written: list[ArticleReport] = []
        for article, chunks in chunked:
            previous = records.get(article.id)
            outcome: Outcome = "updated" if previous and previous.hash else "added"
            written.append(ArticleReport(article.source, outcome, article.title, article.id, len(chunks), article.note))
        return written

    # -- prune --------------------------------------------------------------------------------

    def prune(self, scopes: Sequence[Path], failed_sources: set[str]) -> None:
        """Remove articles whose file lies in ``scopes`` but was not seen in this run. Paths are compared as
        found (:mod:`ingest.files`): an article reached through a symlink goes when the link goes."""
        root = self.settings.articles_dir
        gone: list[tuple[ArticleRecord, Path]] = []
        for record in self.store.records().values():
            fetched_from_web = record.key.startswith("url:") and "://" in record.source
            if record.id in self.seen_ids or fetched_from_web or record.source in failed_sources:
                continue
            path = place(root / record.source)  # an absolute source stays itself
            if within(path, scopes):
                gone.append((record, path))
        if gone:
            self.changing()
        for record, _ in gone:
            self.store.delete_article_chunks(record.id)
        self._unstory([r.id for r, _ in gone])
        if gone:
            self.store.delete_records([r.id for r, _ in gone])
        for record, path in gone:
            reason = ("no longer in its file" if path.exists() else
                      "its link points nowhere" if path.is_symlink() else "its file is gone")
            self.report(ArticleReport(record.source, "removed", record.title, record.id, 0, reason))

    # -- stories ------------------------------------------------------------------------------

    def _story(self, article: Article, article_hash: str, vectors: np.ndarray, chunks: Sequence[Chunk]) -> str:
        """The story an article being written joins or starts ("" without stories or chunks)."""
        if self.stories is None or not chunks:
            return ""
        started = time.perf_counter()
        feats = features(vectors, article.title, [c.text for c in chunks], article.published)
        story = self.stories.assign(article.id, article_hash, feats)
        self.story_seconds += time.perf_counter() - started
        return story

    def _unstory(self, article_ids: Sequence[str]) -> None:
        """Articles no longer indexed leave their stories."""
        if self.stories is not None:
            for article_id in article_ids:
                self.stories.remove(article_id)

    # -- aliases ------------------------------------------------------------------------------

    def settle_aliases(self) -> None:
        """Keep the alias invariant of :mod:`rag.manifest` at the end of a run: an alias whose original was
        edited or removed (in this run, in whatever order the files came) is indexed from its own text,
        as seen in this run or read again from its file; one whose text cannot be read again is removed."""
        aliases = self.store.records_with("alias")
        originals = self.store.records(a.alias_of for a in aliases)
        broken = [a for a in aliases if (o := originals.get(a.alias_of)) is None or o.status != "done"
                  or o.text_hash != a.text_hash]
        if not broken:
            return
        seen = {a.id: a for articles in self.aliases_seen.values() for a in articles}
        again: list[Article] = []
        for record in broken:
            article = seen.get(record.id) or self._reread(record)
            if article is not None:
                again.append(article)
                continue
            self.changing()
            self.store.delete_records([record.id])
            self.report(ArticleReport(record.source, "removed", record.title, record.id, 0,
                                      "the article it duplicated changed or went, and its own text cannot be read "
                                      "again: ingest its file or URL again"))
        ids = {a.id for a in again}
        self.reports = [x for x in self.reports if not (x.article_id in ids and x.outcome == "duplicate")]
        self.seen_ids -= ids
        self.process(again)  # each becomes an article, or the alias of another article with its text

    def _reread(self, record: ArticleRecord) -> Article | None:
        """The article of a manifest record read again from its file (None if it is not a file or fails)."""
        if "://" in record.source:
            return None
        try:
            loaded = load_file(self.settings.articles_dir / record.source, root=self.settings.articles_dir,
                               max_bytes=int(self.settings.ingest.max_file_mb * 1_000_000))
        except Exception as exc:  # noqa: BLE001 - as in iter_loaded: one unreadable file is a reason, not a crash
            log.warning("cannot read %s again: %s", record.source, exc)
            return None
        return next((a for a in loaded.articles if a.id == record.id), None)


def iter_loaded(files: Iterable[Path], settings: Settings,
                known: Mapping[Path, LoadError] | None = None) -> Iterator[tuple[Path, LoadedFile | LoadError]]:
    """Each file loaded, or why not; a file of ``known`` (failed before, unchanged) is not read again."""
    max_bytes = int(settings.ingest.max_file_mb * 1_000_000)
    root = settings.articles_dir
    for path in files:
        if known and path in known:
            yield path, known[path]
            continue
        try:
            yield path, load_file(path, root=root, max_bytes=max_bytes)
        except LoadError as exc:
            yield path, exc
        except Exception as exc:  # noqa: BLE001 - one broken file never aborts the batch
            log.exception("unexpected error while reading %s", path)
            yield path, LoadError(f"unexpected error while reading: {type(exc).__name__}: {exc}", transient=True)


class Batches:
    """Articles gathered into batches of about ``limit`` characters, each handed to ``process`` when full."""

    def __init__(self, process: Callable[[Sequence[Article]], None], limit: int) -> None:
        self.process = process
        self.limit = limit
        self.batch: list[Article] = []
        self.chars = 0

    def add(self, article: Article) -> bool:
        """Add ``article``; True when that filled a batch, which was processed."""
        self.batch.append(article)
        self.chars += len(article.text)
        if self.chars < self.limit:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        if self.batch:
            self.process(self.batch)
        self.batch, self.chars = [], 0


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
        indexer.scan = found = lastrun.scan(paths, prune)  # every file stat'ed before it is read
        for path in found.missing:
            indexer.report(ArticleReport(str(path), "failed", reason="no such file or folder"))
        files = found.files
        remembered = FailedFiles(settings)  # files that failed before and have not changed: not read again
        failed_files: dict[Path, LoadError] = {}
        failed_sources: set[str] = set()
        batches = Batches(indexer.process, settings.ingest.batch_chunks * 700)  # ~ characters per chunk
        held: list[Article] = []  # articles whose date was read without a year
        for done, (path, loaded) in enumerate(iter_loaded(files, settings, remembered.recall(found)), start=1):
            if isinstance(loaded, LoadError):
                failed_files[path] = loaded
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
                    if article.yearless:  # indexed last, when the run's dated articles are known (Indexer._yeared)
                        held.append(article)
                    elif batches.add(article) and progress:
                        progress(Progress(done - 1, len(files), len(indexer.reports), indexer.chunks_embedded))
        batches.flush()
        for article in held:
            batches.add(article)
        batches.flush()
        if prune:
            indexer.prune(found.existing, failed_sources)
        remembered.update(found, failed_files)
    if progress:
        progress(Progress(len(files), len(files), len(indexer.reports), indexer.chunks_embedded))
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
    """One ingest run: take the writer lock, write the ingest marker (:mod:`rag.marker`) and recover what a
    killed run left. Afterwards settle aliases, bump the store's version if anything changed or an earlier
    run was interrupted, make the lexical index agree with Chroma, and only then remove the marker: a run
    killed at any point leaves the marker, and the next run repairs whatever the kill left. A run given
    files (``indexer.scan``) then writes its last-run file, still holding the lock (:mod:`ingest.lastrun`)."""
    started = time.perf_counter()  # the run's time includes opening the store and any recovery
    embedder = embedder or get_embedder(settings.embed)
    store = store or get_store(settings, embedder.name)
    with marker.writer_lock(settings.index_dir, settings.store.mode == "embedded"):
        earlier = marker.begin(settings.index_dir)
        recovered = store.recover() + (store.audit() if earlier is not None else [])
        changes = store.track_changes()
        indexer = Indexer(settings, store, embedder, on_report)
        indexer.started = started
        if settings.stories.enabled:
            began = time.perf_counter()
            indexer.stories = load_story_table(settings)
            if earlier is not None or recovered:
                indexer.stories.version = ""  # audit may have forgotten articles without a version bump yet
            sync(indexer.stories, store, indexer.changing)
            indexer.story_seconds += time.perf_counter() - began
        if earlier is not None:
            half = (f"finished, undid or forgot {len(recovered)} half-written article(s)" if recovered
                    else "nothing was half-written")
            indexer.notes.append(f"the previous ingest was interrupted ({half}); rebuilt the lexical index from Chroma")
        yield indexer
        indexer.settle_aliases()
        if indexer.changed or earlier is not None or recovered:
            store.touch(None if earlier is not None or recovered else changes)
        if indexer.stories is not None:
            began = time.perf_counter()
            if indexer.stories.dirty or indexer.stories.version != store.version():
                indexer.stories.save(table_path(settings), store.version())
            indexer.story_seconds += time.perf_counter() - began
            log.info("stories took %.3f s of this run's %.3f s", indexer.story_seconds, time.perf_counter() - started)
        lexical = build_lexical_cache(settings, store)
        current = lexical.refresh(None if earlier is not None or recovered else changes)
        indexer.notes.extend(lexical.repairs)
        marker.finish(settings.index_dir)
        if indexer.scan is not None and lexical.saved == current.version:
            lastrun.save(settings, indexer.scan, indexer.reports, lexical.folder, store.chroma_dir, current.version)
