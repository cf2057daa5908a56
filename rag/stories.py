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

The :class:`StoryTable` is kept in ``index_dir/stories/<collection>.npz``, written whole (a temporary
file renamed over it) with the store version it matches. Each chunk's metadata holds its article's story
id (``story``), so the table can always be rebuilt from Chroma: :func:`sync` does that for any article
the table is missing or holds in another version, whenever the table's version is not the store's (a
killed run, a copy into the store, a deleted or damaged table, an index built before stories).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import StoreError, index_error
from rag.text import STOPWORDS, fold, terms

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.store import Store

log = logging.getLogger(__name__)

FORMAT = 1  # of the saved table
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
        key = fold(word).lower().replace("’", "'").removesuffix("'s").strip("'-")
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
    """Every indexed article's story and features; assignment and removal (see the module docstring)."""

    def __init__(self, params: Params, version: str = "") -> None:
        self.params = params
        self.version = version  # the store version this table matches ("" = unknown)
        self.row: dict[str, int] = {}  # article id -> row of the arrays below
        self.ids: list[str] = []
        self.story: list[str] = []
        self.hash: list[str] = []
        self.feats: list[Features | None] = []  # None for a removed row
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self.days = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.members: dict[str, set[str]] = {}  # story id -> its article ids
        self.df: Counter[str] = Counter()  # name -> how many articles hold it
        self.dirty = False

    def __len__(self) -> int:
        return len(self.row)

    def story_of(self, article_id: str) -> str | None:
        row = self.row.get(article_id)
        return self.story[row] if row is not None else None

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
        mask = self.alive.copy()
        if feats.day:
            mask &= (self.days == 0) | (np.abs(self.days - feats.day) <= p.window_days)
        rows = np.flatnonzero(mask)
        if not len(rows):
            return {}
        cosine = self.vectors[rows] @ feats.vector
        by_story: dict[str, list[float]] = {}
        for row, cos in zip(rows.tolist(), cosine.tolist()):
            other = self.feats[row]
            assert other is not None
            score = (cos + p.entity_weight * self._names_similarity(feats.names, other.names)
                     + p.title_weight * jaccard(feats.title, other.title))
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
        row = len(self.ids)
        dim = len(feats.vector)
        if self.vectors.shape[1] != dim:
            if any(self.alive):
                raise ValueError(f"article vector of {dim} dimensions in a table of {self.vectors.shape[1]}")
            self.vectors = np.zeros((0, dim), dtype=np.float32)
        if row >= len(self.vectors):  # grow by doubling: adding stays linear
            grow = max(16, len(self.vectors))
            self.vectors = np.concatenate([self.vectors, np.zeros((grow, dim), dtype=np.float32)])
            self.days = np.concatenate([self.days, np.zeros(grow, dtype=np.int64)])
            self.alive = np.concatenate([self.alive, np.zeros(grow, dtype=bool)])
        self.vectors[row] = feats.vector
        self.days[row] = feats.day
        self.alive[row] = True
        self.ids.append(article_id)
        self.story.append(story)
        self.hash.append(article_hash)
        self.feats.append(feats)
        self.row[article_id] = row
        self.members.setdefault(story, set()).add(article_id)
        self.df.update(feats.names)
        self.dirty = True

    def remove(self, article_id: str) -> None:
        """Take an article out of its story (a story left empty is gone)."""
        row = self.row.pop(article_id, None)
        if row is None:
            return
        story = self.story[row]
        self.members[story].discard(article_id)
        if not self.members[story]:
            del self.members[story]
        feats = self.feats[row]
        assert feats is not None
        for name in feats.names:
            self.df[name] -= 1
            if self.df[name] <= 0:
                del self.df[name]
        self.alive[row] = False
        self.feats[row] = None
        self.dirty = True

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Path, version: str) -> None:
        """Write the live rows to ``path`` (whole: a temporary file renamed over it), matching ``version``."""
        rows = [self.row[a] for a in self.row]
        meta = {"format": FORMAT, "version": version, "ids": [self.ids[r] for r in rows],
                "story": [self.story[r] for r in rows], "hash": [self.hash[r] for r in rows],
                "title": [sorted(f.title) for r in rows if (f := self.feats[r])],
                "names": [sorted(f.names) for r in rows if (f := self.feats[r])]}
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta)),
                         vectors=self.vectors[rows] if rows else self.vectors[:0], days=self.days[rows])
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # a full disk or a read-only folder is named; the next ingest rebuilds the table
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise index_error(exc, path.parent) or StoreError(f"Cannot write the story table {path}: {exc}") from exc
        self.version = version
        self.dirty = False

    def _fill(self, ids: list[str], story: list[str], digest: list[str], title: list[list[str]],
              names: list[list[str]], vectors: np.ndarray, days: np.ndarray) -> None:
        """An empty table filled with saved rows at once: what :meth:`add` row by row would make (that took
        6.3 of an ingest's 10.4 s of loading the table at 1M chunks; bench/bench_million.py)."""
        if len(set(ids)) != len(ids):
            raise ValueError("an article is listed twice")
        self.ids, self.story, self.hash = [str(a) for a in ids], [str(s) for s in story], [str(h) for h in digest]
        self.vectors, self.days, self.alive = vectors, days, np.ones(len(ids), dtype=bool)
        self.feats = [Features(vectors[i], int(days[i]), frozenset(t), frozenset(n))
                      for i, (t, n) in enumerate(zip(title, names))]
        self.row = {aid: i for i, aid in enumerate(self.ids)}
        for aid, sid in zip(self.ids, self.story):
            self.members.setdefault(sid, set()).add(aid)
        self.df = Counter(name for found in self.feats if found for name in found.names)

    @classmethod
    def load(cls, path: Path, params: Params) -> StoryTable:
        """The table saved at ``path``; an empty one (version "") when it is missing or damaged."""
        table = cls(params)
        if not path.exists():
            return table
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                vectors, days = np.asarray(data["vectors"], dtype=np.float32), np.asarray(data["days"], dtype=np.int64)
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            columns = [meta[k] for k in ("ids", "story", "hash", "title", "names")]
            if any(len(c) != len(vectors) for c in columns) or len(days) != len(vectors):
                raise ValueError("columns of unequal length")
            table._fill(meta["ids"], meta["story"], meta["hash"], meta["title"], meta["names"], vectors, days)
            table.version = str(meta["version"])
        except Exception as exc:  # noqa: BLE001 - any damage means "rebuild it from Chroma", never a crash
            log.warning("the story table %s is damaged (%s): rebuilding it from the index", path, exc)
            table = cls(params)
        table.dirty = False
        return table


def table_path(settings: Settings) -> Path:
    return settings.index_dir / "stories" / f"{settings.store.collection}.npz"


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
