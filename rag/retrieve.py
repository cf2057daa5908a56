"""Hybrid, date-aware retrieval: dense (Chroma) + BM25, fused, filtered, diversified.

1. A date range named in the question ("last week", "in September 2023") is
   resolved against ``today`` (default: the newest article's date). Events are
   reported on or after the day they happen, so such a range admits articles
   published up to ``date_grace_days`` after it. Explicit filters are exact.
2. Dense candidates come from Chroma with the filters as a ``where`` clause;
   BM25 candidates from the saved lexical index with the filters as a mask.
3. The two rankings are fused (weighted reciprocal-rank fusion), with an
   optional recency prior.
4. The context keeps at most ``max_per_article`` passages of one article, and
   near-identical passages of different articles (syndicated copies) collapse
   into one that lists the other outlets.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np

from rag.bm25 import lexical_cache
from rag.config import Settings
from rag.dates import parse_date_range
from rag.embed import Embedder
from rag.errors import EmptyIndexError
from rag.schema import Filters, Hit, Passage, Retrieval, date_from_key, date_key
from rag.store import Store, chunk_text, outlet_key

log = logging.getLogger(__name__)
BROAD_FILTER = 0.1  # filters admitting at least this share of chunks are applied after the dense search


def where_clause(filters: Filters) -> dict[str, Any] | None:
    """The Chroma ``where`` for these filters (None when there are none)."""
    conditions: list[dict[str, Any]] = []
    if filters.since:
        conditions.append({"published_key": {"$gte": date_key(filters.since)}})
    if filters.until:
        conditions.append({"published_key": {"$lte": date_key(filters.until)}})
    if filters.outlets:
        conditions.append({"outlet_key": {"$in": [outlet_key(o) for o in filters.outlets]}})
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def passage_from(chunk_id: str, document: str | None, meta: dict[str, Any]) -> Passage:
    published = meta.get("published") or ""
    return Passage(
        chunk_id=chunk_id,
        article_id=str(meta.get("article_id", "")),
        text=chunk_text(document, meta),
        title=str(meta.get("title", "")),
        outlet=str(meta.get("outlet", "")),
        url=str(meta.get("url", "")),
        published=date.fromisoformat(published) if published else None,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        source=str(meta.get("source", "")),
        position=int(meta.get("position", 0)),
    )


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def near_duplicate(a: str, b: str, threshold: float) -> bool:
    """Word 5-gram Jaccard similarity at or above ``threshold`` (syndicated copies of one story)."""
    sa, sb = _shingles(a), _shingles(b)
    if not sa or not sb:
        return False
    return len(sa & sb) / len(sa | sb) >= threshold


class Retriever:
    """Dense + BM25 retrieval over one store; thread-safe, cheap per query."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.lexical = lexical_cache(settings, store)

    def newest_date(self, index: Any = None) -> date | None:
        index = index or self.lexical.get()
        keys = index.date_keys
        return date_from_key(int(keys.max())) if len(keys) and keys.max() > 0 else None

    def resolve_filters(self, query: str, filters: Filters, today: date) -> tuple[Filters, str]:
        """Add a date range named in the question when no explicit one was given."""
        if filters.since or filters.until:
            return filters, ""
        found = parse_date_range(query, today)
        if not found:
            return filters, ""
        grace = timedelta(days=self.settings.retrieve.date_grace_days)
        until = found.until + grace if found.until else None
        return replace(filters, since=found.since, until=until), found.text

    def search(self, query: str, filters: Filters | None = None, *, top_k: int | None = None,
               today: date | None = None, question_dates: bool = True) -> Retrieval:
        """Retrieve the context for ``query``; raise EmptyIndexError when nothing is indexed."""
        cfg = self.settings.retrieve
        filters = filters or Filters()
        top_k = top_k or cfg.top_k
        version = self.store.version()
        index = self.lexical.get(version)
        if len(index) == 0:
            raise EmptyIndexError()
        date_text = ""
        today = today or self.newest_date(index) or date.today()
        if question_dates:
            filters, date_text = self.resolve_filters(query, filters, today)
        vector = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        ranked = self._fused(query, vector, filters, index, today)
        note = ""
        if not ranked and date_text:
            note = f"No article matches the date range of “{date_text}”; searched all dates instead."
            filters = replace(filters, since=None, until=None)
            ranked = self._fused(query, vector, filters, index, today)
        hits = self._diversify(ranked, top_k)
        articles = tuple(dict.fromkeys(h.passage.article_id for h in ranked))
        return Retrieval(query, tuple(hits), articles, filters, date_text, note)

    # -- stages ---------------------------------------------------------------------------------

    def _dense(self, vector: np.ndarray, filters: Filters, depth: int,
               index: Any) -> list[tuple[str, float, str, dict[str, Any]]]:
        """Dense candidates. A broad filter (admitting at least 10% of chunks) is applied after an unfiltered,
        deeper HNSW search, which is several times faster in Chroma than its filtered search; a narrow one
        goes to Chroma as a ``where`` clause."""
        mask = index.mask(filters)
        share = float(mask.mean()) if mask is not None and len(mask) else 1.0
        if mask is not None and share >= BROAD_FILTER:
            wide = self.store.chunks.query(query_embeddings=[vector], n_results=min(len(mask), math.ceil(depth / share * 1.5)),
                                           include=["distances"])
            kept = [(cid, dist) for cid, dist in zip(wide["ids"][0], (wide.get("distances") or [[]])[0])
                    if (row := index.positions.get(cid)) is not None and mask[row]][:depth]
            if len(kept) >= min(depth, int(mask.sum())):
                found = {cid: (text, meta) for cid, text, meta in self.store.get_chunks([cid for cid, _ in kept])}
                return [(cid, 1.0 - float(dist), *found[cid]) for cid, dist in kept if cid in found]
        result = self.store.chunks.query(
            query_embeddings=[vector],
            n_results=depth,
            where=where_clause(filters),
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        docs = (result.get("documents") or [None])[0] or [None] * len(ids)
        metas = (result.get("metadatas") or [None])[0] or [None] * len(ids)
        dists = (result.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(dist), doc, dict(meta or {})) for cid, doc, meta, dist in zip(ids, docs, metas, dists)]

    def _lexical(self, query: str, filters: Filters, index: Any, depth: int) -> list[tuple[str, float]]:
        scores = index.scores(query)
        if not scores.any():
            return []
        mask = index.mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        depth = min(depth, int((scores > 0).sum()))
        if depth == 0:
            return []
        top = np.argpartition(-scores, depth - 1)[:depth]
        top = top[np.argsort(-scores[top])]
        return [(index.chunk_ids[i], float(scores[i])) for i in top]

    def _fused(self, query: str, vector: np.ndarray, filters: Filters, index: Any, today: date | None) -> list[Hit]:
        cfg = self.settings.retrieve
        depth = min(cfg.candidates, len(index))
        dense = self._dense(vector, filters, depth, index)
        lexical = self._lexical(query, filters, index, depth) if cfg.bm25_weight > 0 else []
        fused: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        dense_score: dict[str, float] = {}
        lexical_score: dict[str, float] = {}
        passages: dict[str, Passage] = {}
        for rank, (cid, sim, doc, meta) in enumerate(dense, start=1):
            why.setdefault(cid, []).append(f"dense #{rank}")
            dense_score[cid] = sim
            passages[cid] = passage_from(cid, doc, meta)
        for rank, (cid, score) in enumerate(lexical, start=1):
            why.setdefault(cid, []).append(f"bm25 #{rank}")
            lexical_score[cid] = score
        if cfg.fusion == "rrf":
            for rank, (cid, *_rest) in enumerate(dense, start=1):
                fused[cid] = fused.get(cid, 0.0) + cfg.dense_weight / (cfg.rrf_k + rank)
            for rank, (cid, _score) in enumerate(lexical, start=1):
                fused[cid] = fused.get(cid, 0.0) + cfg.bm25_weight / (cfg.rrf_k + rank)
        else:  # "convex": min-max normalised scores, weighted; a list a chunk is missing from counts as its minimum
            def normalised(scores: dict[str, float]) -> dict[str, float]:
                if not scores:
                    return {}
                low, high = min(scores.values()), max(scores.values())
                return {c: (v - low) / (high - low) if high > low else 1.0 for c, v in scores.items()}

            nd, nb = normalised(dense_score), normalised(lexical_score)
            for cid in why:
                fused[cid] = cfg.dense_weight * nd.get(cid, 0.0) + cfg.bm25_weight * nb.get(cid, 0.0)
        missing = [cid for cid in fused if cid not in passages]
        if missing:
            for cid, text, meta in self.store.get_chunks(missing):
                passages[cid] = passage_from(cid, text, meta)
        if cfg.recency_weight > 0 and cfg.recency_half_life_days > 0 and today:
            for cid in fused:
                published = passages[cid].published if cid in passages else None
                if published:
                    age = abs((today - published).days)
                    fused[cid] *= 1.0 + cfg.recency_weight * 0.5 ** (age / cfg.recency_half_life_days)
        order = sorted((cid for cid in fused if cid in passages), key=lambda c: -fused[c])
        return [Hit(passages[c], fused[c], dense_score.get(c, 0.0), lexical_score.get(c, 0.0), ", ".join(why[c]))
                for c in order]

    def _diversify(self, ranked: list[Hit], top_k: int) -> list[Hit]:
        cfg = self.settings.retrieve
        chosen: list[Hit] = []
        per_article: dict[str, int] = {}
        for hit in ranked:
            if len(chosen) >= top_k:
                break
            article = hit.passage.article_id
            if per_article.get(article, 0) >= cfg.max_per_article:
                continue
            twin = next((i for i, c in enumerate(chosen) if c.passage.article_id != article
                         and near_duplicate(c.passage.text, hit.passage.text, cfg.duplicate_threshold)), None)
            if twin is not None:
                kept = chosen[twin]
                outlet = hit.passage.outlet or hit.passage.url or hit.passage.source
                if outlet and outlet != kept.passage.outlet and outlet not in kept.also_reported:
                    chosen[twin] = replace(kept, also_reported=(*kept.also_reported, outlet))
                continue
            per_article[article] = per_article.get(article, 0) + 1
            chosen.append(hit)
        return chosen


def as_langchain_retriever(retriever: Retriever, filters: Filters | None = None, top_k: int | None = None) -> Any:
    """A LangChain ``BaseRetriever`` over ``retriever``: Documents with citation metadata."""
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class NewsRetriever(BaseRetriever):
        """newsrag's hybrid retriever for LangChain chains."""

        inner: Any
        filters: Any = None
        top_k: int | None = None

        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
            result = self.inner.search(query, self.filters, top_k=self.top_k)
            return [
                Document(
                    page_content=h.passage.text,
                    id=h.passage.chunk_id,
                    metadata={"article_id": h.passage.article_id, "title": h.passage.title,
                              "outlet": h.passage.outlet, "url": h.passage.url,
                              "published": h.passage.published.isoformat() if h.passage.published else "",
                              "start": h.passage.start, "end": h.passage.end, "score": h.score, "why": h.why},
                )
                for h in result.hits
            ]

    return NewsRetriever(inner=retriever, filters=filters, top_k=top_k)
