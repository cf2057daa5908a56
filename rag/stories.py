"""Stories: articles about one event, grouped incrementally as they are indexed.

An article is described by :class:`Features`: its vector (the mean of its chunk embeddings, which ingest
has already computed), the content words of its title, the name-like words (capitalised or upper-case,
in any script) of its title and lead, and its day. Two articles score

    cosine(vectors) + ENTITY_WEIGHT * weighted Jaccard(names) + TITLE_WEIGHT * Jaccard(title words)

where a name's weight is its smoothed inverse document frequency among the indexed articles (a name found
in most articles, such as an outlet's sign-up form, weighs little). A new article scores each story by its
best-scoring member published within ``window_days`` of it (undated articles compare with every member),
joins the best story if that score reaches ``threshold`` and starts a story of its own otherwise. The
weights, the linkage and the threshold were chosen on half of a hand-labelled sample and measured on the
other half (README, "Stories"). Story ids are the id of the article that started the story (suffixed if
that id was taken). Nothing is ever re-clustered: joining never moves another article, and removing an
article leaves its story to the rest (an emptied story is gone).

The :class:`StoryTable` is kept in segments under ``index_dir/stories/<collection>/``, committed the way
the lexical index is (:mod:`rag.commits`): ``meta.json`` names the store version the table matches and its
segments, oldest first. A segment is ``seg-<name>.npz`` (its articles' ids, stories, hashes, days, title
words and names as text lines, the ids its commit removed from older segments, and its names' article
counts) beside ``seg-<name>.npy`` (their vectors, which a load maps rather than reads). An ingest adds one
segment with the articles it assigned and the ids it removed, so saving costs what the ingest changed, and
loading reads no vector and parses no article's words until a score needs them. An article lives in the
newest segment that holds it, unless a later commit removed it. Past ``MAX_SEGMENTS`` segments, a save
merges the newer ones (all of them when they are not small beside the first).

Each chunk's metadata holds its article's story id (``story``), so the table can always be rebuilt from
Chroma: :func:`sync` does that for any article the table is missing or holds in another version, whenever
the table's version is not the store's (a killed run, a copy into the store, a deleted or damaged table, an
index built before stories).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

from rag.commits import Replaced, commit, meta_digest, raise_if_replaced, read_newest, remove_unnamed
from rag.errors import StoreError, index_error
from rag.text import STOPWORDS, fold, terms

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.store import Store

log = logging.getLogger(__name__)

FORMAT = 2  # of the saved table: 2 = segments in a folder (1, one file, is read once and replaced)
MAX_SEGMENTS = 12  # past this, a save merges the newer segments into one
STORY_KEY = "story"  # the chunk metadata field holding the article's story id
LEAD_CHARS = 1000  # names are read from the title and this much of the article's text
# Chosen, with the linkage and the default threshold, as the best B-cubed F1 on the tune half of
# tests/data/stories_h1.jsonl over a grid (bench/bench_stories.py); the title weight came out 0 there
# (title words are still read and kept: the benchmark replays other weights).
ENTITY_WEIGHT = 0.25
TITLE_WEIGHT = 0.0
LINKAGE = "single"

_NAME_RE = re.compile(r"[^\W\d_][\w'’\-]*")
# capitalised words that are not names: calendar words and sentence openers of news prose
_NOT_NAMES = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december jan feb mar apr jun jul aug sep sept oct nov dec mr mrs ms
    dr but and or so yet however meanwhile still even here there now today yesterday tomorrow last next
    first many some one two three four five six seven eight nine ten""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Features:
    """What story assignment knows of one article."""

    vector: np.ndarray  # unit length
    day: int  # date.toordinal() of publication; 0 = undated
    title: frozenset[str]
    names: frozenset[str]


def article_vector(chunk_vectors: np.ndarray) -> np.ndarray:
    """The unit-length mean of an article's chunk embeddings."""
    mean = np.asarray(chunk_vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


def names(title: str, lead: str) -> frozenset[str]:
    """Name-like words of a title and lead, lower-cased and folded: a word starting with a capital (any script
    that has capitals) that is no stopword or calendar word. A title in Title Case gives no names (every word
    is capitalised there); its words count through the title overlap instead."""
    words = _NAME_RE.findall(title)
    capitals = sum(w[0].isupper() for w in words)
    source = lead if words and capitals > 0.6 * len(words) else f"{title}\n{lead}"
    out = set()
    for word in _NAME_RE.findall(source):
        if not word[0].isupper():
            continue
        key = "".join(fold(word).lower().replace("’", "'").removesuffix("'s").strip("'-").split())  # folding
        # can spread a ligature (U+FDFA) into words; a name stays one word, as the saved table keeps it
        if len(key) > 1 and key not in STOPWORDS and key not in _NOT_NAMES:
            out.add(key)
    return frozenset(out)


def features(chunk_vectors: np.ndarray, title: str, chunk_texts: Sequence[str], published: date | None) -> Features:
    """An article's features from its chunks (embeddings and texts, in position order) and metadata."""
    lead = ""
    for text in chunk_texts:
        if len(lead) >= LEAD_CHARS:
            break
        lead += text + "\n"
    return Features(article_vector(chunk_vectors), published.toordinal() if published else 0,
                    frozenset(terms(title)), names(title, lead[:LEAD_CHARS]))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass(frozen=True)
class Params:
    """How articles are grouped: see the module docstring."""

    threshold: float = 0.65
    window_days: int = 7
    entity_weight: float = ENTITY_WEIGHT
    title_weight: float = TITLE_WEIGHT
    linkage: str = LINKAGE  # "single": a story scores its best member in the window; "average": their mean


class StoryTable:
    """Every indexed article's story and features; assignment and removal (see the module docstring).

    Rows are appended, never moved: an article assigned again gets a new row and its old one is dead
    (``alive`` False). Rows loaded from the saved segments keep their vectors in the segments' files (mapped,
    read only where a window reaches) and their words as text until a score needs them.
    """

    def __init__(self, params: Params, version: str = "") -> None:
        self.params = params
        self.version = version  # the store version this table matches ("" = unknown)
        self.row: dict[str, int] = {}  # live article id -> its row of the columns below
        self.ids: list[str] = []
        self.story: list[str] = []
        self.hash: list[str] = []
        self.days = np.zeros(0, dtype=np.int64)  # (capacity) date.toordinal(), 0 = undated
        self.alive = np.zeros(0, dtype=bool)  # (capacity)
        self.members: dict[str, set[str]] = {}  # story id -> its article ids
        self.df: Counter[str] = Counter()  # name -> how many articles hold it
        self.dirty = False
        self.dim = 0  # of the article vectors
        self._blocks: list[tuple[int, np.ndarray]] = []  # (first row, vectors) of each loaded segment
        self._tail = np.zeros((0, 0), dtype=np.float32)  # (capacity) vectors of the rows added since, from:
        self._tail_start = 0
        self._text: list[tuple[str, str]] = []  # loaded rows' title words and names, space-separated
        self._words: dict[int, tuple[frozenset[str], frozenset[str]]] = {}  # live rows' (title, names), parsed
        # what the saved commit holds: its segments (with the first row of each) and the rows and ids since
        self._segments: list[dict[str, Any]] = []
        self._starts: list[int] = []
        self._saved_rows = 0
        self._dropped: list[str] = []  # ids whose saved row died since the commit

    def __len__(self) -> int:
        return len(self.row)

    def story_of(self, article_id: str) -> str | None:
        row = self.row.get(article_id)
        return self.story[row] if row is not None else None

    def words(self, row: int) -> tuple[frozenset[str], frozenset[str]]:
        """A live row's title words and names."""
        found = self._words.get(row)
        if found is None:
            title, names_ = self._text[row]
            found = self._words[row] = (frozenset(title.split()), frozenset(names_.split()))
        return found

    def features(self, article_id: str) -> Features | None:
        row = self.row.get(article_id)
        if row is None:
            return None
        title, names_ = self.words(row)
        return Features(self._vectors(np.array([row]))[0], int(self.days[row]), title, names_)

    def _vectors(self, rows: np.ndarray) -> np.ndarray:
        """The article vectors of ``rows``, from the segments and the rows added since."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for start, block in [*self._blocks, (self._tail_start, self._tail)]:
            inside = (rows >= start) & (rows < start + len(block))
            if inside.any():
                out[inside] = block[rows[inside] - start]
        return out

    def _weights(self, own: frozenset[str], other: frozenset[str]) -> dict[str, float]:
        """Smoothed inverse document frequency of each name, counting the article being assigned (``own``) as
        one more document: never zero, so that it means something in a table of two articles too."""
        n = len(self.row) + 1
        return {name: math.log((1 + n) / (1 + self.df[name] + (name in own))) + 1 for name in own | other}

    def _names_similarity(self, a: frozenset[str], b: frozenset[str]) -> float:
        """Weighted Jaccard of two articles' names; ``a`` is the article being assigned."""
        shared = a & b
        if not shared:
            return 0.0
        weight = self._weights(a, b)
        return sum(weight[x] for x in shared) / sum(weight.values())

    def scores(self, feats: Features) -> dict[str, float]:
        """Each story's score for an article with these features (only stories with a member in its window)."""
        p = self.params
        if not self.row:
            return {}
        n = len(self.ids)
        mask = self.alive[:n].copy()
        if feats.day:
            days = self.days[:n]
            mask &= (days == 0) | (np.abs(days - feats.day) <= p.window_days)
        rows = np.flatnonzero(mask)
        if not len(rows):
            return {}
        cosine = self._vectors(rows) @ feats.vector
        by_story: dict[str, list[float]] = {}
        for row, cos in zip(rows.tolist(), cosine.tolist()):
            title, names_ = self.words(row)
            score = (cos + p.entity_weight * self._names_similarity(feats.names, names_)
                     + p.title_weight * jaccard(feats.title, title))
            by_story.setdefault(self.story[row], []).append(score)
        pick = max if p.linkage == "single" else (lambda s: sum(s) / len(s))
        return {story: pick(values) for story, values in by_story.items()}

    def assign(self, article_id: str, article_hash: str, feats: Features) -> str:
        """Put an article (again) into the best story within its window, or a new one; its story id."""
        self.remove(article_id)
        scores = self.scores(feats)
        best = max(scores, key=lambda s: (scores[s], s), default=None)
        if best is None or scores[best] < self.params.threshold:
            best = article_id
            n = 1
            while best in self.members:
                n += 1
                best = f"{article_id}~{n}"
        self.add(article_id, article_hash, feats, best)
        return best

    def add(self, article_id: str, article_hash: str, feats: Features, story: str) -> None:
        """Record an article as a member of ``story`` (as found in the index)."""
        self.remove(article_id)
        dim = len(feats.vector)
        if self.dim != dim:
            if self.row:
                raise ValueError(f"article vector of {dim} dimensions in a table of {self.dim}")
            self.dim, self._blocks = dim, []
            self._tail, self._tail_start = np.zeros((0, dim), dtype=np.float32), len(self.ids)
        row = len(self.ids)
        if row >= len(self.days):  # grow by doubling: adding stays linear
            grow = max(16, len(self.days))
            self.days = np.concatenate([self.days, np.zeros(grow, dtype=np.int64)])
            self.alive = np.concatenate([self.alive, np.zeros(grow, dtype=bool)])
        if row - self._tail_start >= len(self._tail):
            grow = max(16, len(self._tail))
            self._tail = np.concatenate([self._tail, np.zeros((grow, dim), dtype=np.float32)])
        self._tail[row - self._tail_start] = feats.vector
        self.days[row] = feats.day
        self.alive[row] = True
        self.ids.append(article_id)
        self.story.append(story)
        self.hash.append(article_hash)
        self._text.append(("", ""))
        self._words[row] = (feats.title, feats.names)
        self.row[article_id] = row
        self.members.setdefault(story, set()).add(article_id)
        self.df.update(feats.names)
        self.dirty = True

    def remove(self, article_id: str) -> None:
        """Take an article out of its story (a story left empty is gone)."""
        row = self.row.pop(article_id, None)
        if row is None:
            return
        if row < self._saved_rows:
            self._dropped.append(article_id)
        story = self.story[row]
        self.members[story].discard(article_id)
        if not self.members[story]:
            del self.members[story]
        _, names_ = self.words(row)
        _uncount(self.df, names_)
        self.alive[row] = False
        del self._words[row]
        self.dirty = True

    # -- persistence ----------------------------------------------------------------------------

    def save(self, folder: Path, version: str) -> None:
        """Commit the table to ``folder``, matching ``version``: a segment with the rows added and the ids
        removed since the last commit, or, when the folder does not hold the commit this table extends,
        every live row (see the module docstring)."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with FileLock(str(folder.with_name(folder.name + ".lock"))):
                self._save(folder, version)
        except OSError as exc:  # a full disk or a read-only folder is named; the next ingest rebuilds the table
            raise index_error(exc, folder.parent) or StoreError(f"Cannot write the story table {folder}: {exc}") from exc
        self.version = version
        self.dirty = False

    def _save(self, folder: Path, version: str) -> None:
        n = len(self.ids)
        extends = (bool(self._segments) and all(s["dim"] == self.dim for s in self._segments)
                   and _committed(folder) == [s["name"] for s in self._segments])
        if not extends:
            keep, start, deleted = 0, 0, []
        elif len(self._segments) >= MAX_SEGMENTS:  # merge the newer segments, or all when they are not small
            bounds = [*self._starts, n]
            live = [int(self.alive[a:b].sum()) for a, b in itertools.pairwise(bounds)]
            keep = 0 if live[0] <= 2 * sum(live[1:]) else 1
            start = self._starts[keep]
            deleted = self._dead_before(start) if keep else []
        else:
            keep, start, deleted = len(self._segments), self._saved_rows, self._dropped
        rows = np.flatnonzero(self.alive[start:n]) + start
        segments, starts = self._segments[:keep], self._starts[:keep]
        if len(rows) or deleted or not segments:
            segments, starts = [*segments, self._write_segment(folder, rows, deleted)], [*starts, start]
        commit(folder, {"format": FORMAT, "version": version, "segments": segments})
        remove_unnamed(folder, {"meta.json", *(f"{s['name']}{x}" for s in segments for x in (".npz", ".npy"))},
                       "the story table")
        with contextlib.suppress(OSError):  # the single file the table was kept in before segments
            _legacy_path(folder).unlink(missing_ok=True)
        self._segments, self._starts, self._saved_rows, self._dropped = segments, starts, n, []

    def _dead_before(self, end: int) -> list[str]:
        """Ids with a row before ``end`` and no live one there: what a segment replacing the rows from ``end``
        on must delete from the ones before."""
        dead = {self.ids[r] for r in np.flatnonzero(~self.alive[:end]).tolist()}
        return sorted(dead - {self.ids[r] for r in np.flatnonzero(self.alive[:end]).tolist()})

    def _write_segment(self, folder: Path, rows: np.ndarray, deleted: Sequence[str]) -> dict[str, Any]:
        """Write ``rows`` and the ids a commit deletes as a new segment; its entry for ``meta.json``."""
        name = f"seg-{uuid.uuid4().hex[:12]}"
        picked = rows.tolist()
        counts = Counter(name_ for r in picked for name_ in self.words(r)[1])
        columns = {"ids": [self.ids[r] for r in picked], "story": [self.story[r] for r in picked],
                   "hash": [self.hash[r] for r in picked],
                   "title": [" ".join(sorted(self.words(r)[0])) for r in picked],
                   "names": [" ".join(sorted(self.words(r)[1])) for r in picked],
                   "deleted": list(deleted), "df_names": list(counts)}
        with open(folder / f"{name}.npy", "wb") as out:
            np.save(out, self._vectors(rows))
            out.flush()
            os.fsync(out.fileno())
        with open(folder / f"{name}.npz", "wb") as out:
            arrays: dict[str, Any] = {key: _encode(values) for key, values in columns.items()}
            np.savez(out, days=self.days[rows], df_counts=np.array(list(counts.values()), dtype=np.int64), **arrays)
            out.flush()
            os.fsync(out.fileno())
        return {"name": name, "rows": len(picked), "deleted": len(deleted), "dim": self.dim}

    @classmethod
    def load(cls, folder: Path, params: Params) -> StoryTable:
        """The table saved in ``folder``; an empty one (version "") when there is none or it is damaged."""
        def read() -> StoryTable:
            if not (folder / "meta.json").exists() and _legacy_path(folder).exists():
                return cls._load_legacy(folder, params)
            return cls._read(folder, params)

        try:
            got = read_newest(read)
        except Exception as exc:  # noqa: BLE001 - any damage means "rebuild it from Chroma", never a crash
            log.warning("the story table %s is damaged (%s): rebuilding it from the index", folder, exc)
            return cls(params)
        if isinstance(got, Replaced):
            log.warning("the story table %s kept changing while it was read: reading it as empty", folder)
            return cls(params)
        return got

    @classmethod
    def _read(cls, folder: Path, params: Params) -> StoryTable:
        table = cls(params)
        try:
            text = (folder / "meta.json").read_text()
        except FileNotFoundError:
            return table
        meta = json.loads(text)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format') if isinstance(meta, dict) else meta!r}")
        if meta.get("digest") != meta_digest(meta):
            raise ValueError("meta.json was changed after it was written (digest mismatch)")
        segments = []
        for entry in meta["segments"]:
            try:
                segments.append(_Segment.read(folder, entry))
            except FileNotFoundError as exc:
                raise_if_replaced(folder, text, str(exc))
                raise
        table._fill(segments)
        table._segments = meta["segments"]
        table.version = str(meta["version"])
        return table

    @classmethod
    def _load_legacy(cls, folder: Path, params: Params) -> StoryTable:
        """A table kept whole in one file (format 1, before segments): read, and dirty, so that the next ingest
        writes it as a segment and removes the file."""
        try:
            with np.load(_legacy_path(folder), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                vectors, days = np.asarray(data["vectors"], dtype=np.float32), np.asarray(data["days"], dtype=np.int64)
        except FileNotFoundError as exc:
            if (folder / "meta.json").exists():  # an ingest wrote it as segments meanwhile
                raise Replaced(str(exc)) from None
            raise
        if meta.get("format") != 1:
            raise ValueError(f"format {meta.get('format')!r}")
        columns = [meta[k] for k in ("ids", "story", "hash", "title", "names")]
        if any(len(c) != len(vectors) for c in columns) or len(days) != len(vectors):
            raise ValueError("columns of unequal length")
        ids, story, digest, title, found = columns
        df = Counter(name for listed in found for name in listed)
        table = cls(params)
        table._fill([_Segment(ids, story, digest, [(" ".join(t), " ".join(f)) for t, f in zip(title, found)], [],
                              days, vectors, df)])
        table._starts, table._saved_rows = [], 0  # nothing of it is in a segment yet
        table.version, table.dirty = str(meta["version"]), True
        return table

    def _fill(self, segments: Sequence[_Segment]) -> None:
        """An empty table filled with saved segments, oldest first: an article lives in the newest segment that
        holds it, unless a later one removed it."""
        dead: list[int] = []
        days: list[np.ndarray] = []
        for segment in segments:
            for article_id in segment.deleted:
                if (row := self.row.pop(article_id, None)) is not None:
                    dead.append(row)
            start = len(self.ids)
            for i, article_id in enumerate(segment.ids):
                if (row := self.row.get(article_id)) is not None:
                    dead.append(row)
                self.row[article_id] = start + i
            self.ids += segment.ids
            self.story += segment.story
            self.hash += segment.hash
            self._text += segment.text
            self._blocks.append((start, segment.vectors))
            self._starts.append(start)
            self.dim = segment.vectors.shape[1]
            self.df.update(segment.df)
            days.append(segment.days)
        n = len(self.ids)
        self.days = np.concatenate(days) if days else np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(n, dtype=bool)
        self.alive[list(self.row.values())] = True
        for row in dead:  # each row was counted by its own segment
            _uncount(self.df, frozenset(self._text[row][1].split()))
        for article_id, row in self.row.items():
            self.members.setdefault(self.story[row], set()).add(article_id)
        self._tail, self._tail_start = np.zeros((0, self.dim), dtype=np.float32), n
        self._saved_rows = n


@dataclass
class _Segment:
    """One saved segment, as read."""

    ids: list[str]
    story: list[str]
    hash: list[str]
    text: list[tuple[str, str]]
    deleted: list[str]
    days: np.ndarray
    vectors: np.ndarray  # mapped from the file, read only where used
    df: dict[str, int]

    @classmethod
    def read(cls, folder: Path, entry: dict[str, Any]) -> _Segment:
        rows, name = entry["rows"], entry["name"]
        if "/" in name or not name.startswith("seg-"):
            raise ValueError(f"{name!r} is not a segment's name")
        with np.load(folder / f"{name}.npz", allow_pickle=False) as data:
            c = {key: _decode(data[key]) for key in ("ids", "story", "hash", "title", "names", "deleted", "df_names")}
            days, counts = np.asarray(data["days"], dtype=np.int64), data["df_counts"].tolist()
        vectors = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if any(len(c[k]) != rows for k in ("ids", "story", "hash", "title", "names")) or len(days) != rows \
                or vectors.shape != (rows, entry["dim"]) or vectors.dtype != np.float32 \
                or len(c["deleted"]) != entry["deleted"] or len(c["df_names"]) != len(counts):
            raise ValueError(f"{name} does not hold the {rows} rows meta.json names")
        return cls(c["ids"], c["story"], c["hash"], list(zip(c["title"], c["names"])), c["deleted"], days, vectors,
                   dict(zip(c["df_names"], counts)))


def _encode(values: Sequence[str]) -> np.ndarray:
    """Strings as UTF-8 lines, each ended by a line break: read back with one split, far faster than JSON."""
    if any("\n" in v for v in values):
        raise ValueError("a story table value holds a line break")
    return np.frombuffer("".join(f"{v}\n" for v in values).encode(), dtype=np.uint8)


def _decode(data: np.ndarray) -> list[str]:
    lines = data.tobytes().decode().split("\n")
    if lines[-1]:
        raise ValueError("a text column does not end with a line break")
    return lines[:-1]


def _uncount(df: Counter[str], names_: Iterable[str]) -> None:
    for name in names_:
        df[name] -= 1
        if df[name] <= 0:
            del df[name]


def _committed(folder: Path) -> list[str] | None:
    """The segment names of the commit in ``folder``, or None when there is none that reads."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        return [entry["name"] for entry in meta["segments"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _legacy_path(folder: Path) -> Path:
    return folder.with_name(folder.name + ".npz")


def table_path(settings: Settings) -> Path:
    return settings.index_dir / "stories" / settings.store.collection


def params_of(settings: Settings) -> Params:
    s = settings.stories
    return Params(threshold=s.threshold, window_days=s.window_days)


def load_story_table(settings: Settings) -> StoryTable:
    return StoryTable.load(table_path(settings), params_of(settings))


def stories_of(settings: Settings, store: Store) -> StoryTable:
    """The story table, for the commands and tabs that read stories: EmptyIndexError when nothing is indexed,
    an InputError saying what to run when articles are indexed but not grouped into stories."""
    from rag.errors import EmptyIndexError, InputError

    table = load_story_table(settings)
    if len(table):
        return table
    if not store.count_chunks():
        raise EmptyIndexError()
    if not settings.stories.enabled:
        raise InputError("Stories are off ([stories] enabled = false), so no article belongs to one: turn them on "
                         "and run `newsrag ingest` to group the indexed articles.")
    raise InputError("The indexed articles are not grouped into stories yet (the index was built before stories): "
                     "run `newsrag ingest` to group them.")


def sync(table: StoryTable, store: Store, changing: Callable[[], None] = lambda: None) -> int:
    """Make the table agree with the store's done articles, unless it already matches the store's version:
    forget articles no longer indexed (or indexed in another version) and add the missing ones from Chroma,
    under the story id their chunks carry, or, for chunks written before stories, a new assignment written
    into their metadata (``changing`` is called before that first write). Returns how many were added."""
    version = store.version()
    if table.version and table.version == version:
        return 0
    done = {r.id: r for r in store.records_with("done")}
    for article_id in [a for a in table.row if a not in done or table.hash[table.row[a]] != done[a].hash]:
        table.remove(article_id)
    missing = sorted((r.published or "9999", r.id) for r in done.values() if r.id not in table.row)
    wanted = [rid for _, rid in missing]
    added = 0
    for start in range(0, len(wanted), 200):
        found = store.story_chunks(wanted[start : start + 200])
        for article_id in wanted[start : start + 200]:
            chunks = found.get(article_id)
            if not chunks:
                continue
            record = done[article_id]
            feats = features(np.stack([v for v, _, _ in chunks]), record.title, [t for _, t, _ in chunks],
                             date.fromisoformat(record.published) if record.published else None)
            stored = {m.get(STORY_KEY) for _, _, m in chunks}
            story = stored.pop() if len(stored) == 1 else None
            if isinstance(story, str) and story:
                table.add(article_id, record.hash, feats, story)
            else:
                changing()
                store.set_story(article_id, table.assign(article_id, record.hash, feats))
            added += 1
    if added:
        log.info("added %d article(s) to the story table from the index", added)
    table.dirty = True
    return added


@dataclass(frozen=True)
class Story:
    """A story as listed: its id, its articles (id, day, title) oldest first."""

    id: str
    articles: tuple[tuple[str, str, str], ...]

    @property
    def first(self) -> str:
        return self.articles[0][1]

    @property
    def last(self) -> str:
        return self.articles[-1][1]


def stories(table: StoryTable, titles: Callable[[Iterable[str]], dict[str, str]] | None = None) -> list[Story]:
    """Every story of the table with its articles, largest first, then newest."""
    out = []
    for story, ids in table.members.items():
        rows = sorted((int(table.days[table.row[a]]), a) for a in ids)
        names = titles(ids) if titles else {}
        out.append(Story(story, tuple((a, date.fromordinal(d).isoformat() if d else "", names.get(a, ""))
                                      for d, a in rows)))
    return sorted(out, key=lambda s: (len(s.articles), s.last, s.id), reverse=True)


def listing(settings: Settings, store: Store) -> tuple[list[Story], bool]:
    """Every story of the index with its articles' titles, largest first, and whether the table matches the
    store (False after a change no ingest has seen: a copy into the store, an interrupted run)."""
    table = load_story_table(settings)
    records = store.records(table.row)
    return stories(table, lambda ids: {a: records[a].title for a in ids if a in records}), \
        table.version == store.version()
