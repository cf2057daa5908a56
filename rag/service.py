"""The one API the UI and the CLI call: ``ask(...)`` yields typed events.

    for event in ask("Who won the Singapore Grand Prix?", history, Filters(since=...)):
        Sources -> the retrieved passages (numbered as the model sees them)
        Token   -> a piece of the answer as it streams (LLM answerers)
        Verdicts-> per-sentence citations and verdicts, once the answer is complete
        Done    -> the final Answer (also for refusals)
        Error   -> a message the user can act on (and the partial answer, if any)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from rag import prompts
from rag.answer import citations
from rag.config import Settings
from rag.embed import Embedder, get_embedder
from rag.errors import ModelError, NewsragError
from rag.followup import normalize_history, rewrite
from rag.retrieve import Retriever
from rag.schema import Answer, AnswerSentence, Filters, Hit, Retrieval, json_data
from rag.store import Store, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sources:
    query: str
    hits: tuple[Hit, ...]
    filters: Filters
    note: str = ""


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Verdicts:
    sentences: tuple[AnswerSentence, ...]


@dataclass(frozen=True)
class Done:
    answer: Answer


@dataclass(frozen=True)
class Error:
    message: str
    partial: Answer | None = None


Event = Sources | Token | Verdicts | Done | Error


class SentenceCache:
    """Embeddings of short texts (answer and passage sentences), shared across questions."""

    def __init__(self, embedder: Embedder, size: int = 50_000) -> None:
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.embedder.embed_documents(missing)
            with self._lock:
                for text, vector in zip(missing, vectors):
                    self._cache[text] = vector
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        with self._lock:
            rows = [self._cache.get(t) for t in texts]
        present = [r for r in rows if r is not None]
        if len(present) < len(rows):  # evicted meanwhile by another thread: embed directly
            return self.embedder.embed_documents(list(texts))
        return np.stack(present) if present else np.zeros((0, 1), dtype=np.float32)


class Engine:
    """Embedder, store, retriever and sentence cache for one Settings; built once, shared by threads."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, store: Store | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or get_embedder(settings.embed)
        self.store = store or open_store(settings, self.embedder.name)
        self.retriever = Retriever(settings, self.store, self.embedder)
        self.sentences = SentenceCache(self.embedder)

    def warm(self) -> None:
        """Load the model and the BM25 index now rather than on the first question."""
        self.embedder.embed_query("warm up")
        self.retriever.lexical.get()


_ENGINES: dict[Any, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: Settings) -> Engine:
    key = (settings.embed, settings.store, str(settings.index_dir), settings.retrieve)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = Engine(settings)
        return _ENGINES[key]


def _refusal(question: str, query: str, retrieval: Retrieval | None, provider: str, timings: dict[str, float],
             filters: Filters, started: float) -> Answer:
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    return Answer(question=question, query=query, text=prompts.REFUSAL, sentences=(), citations=(), refused=True,
                  provider=provider, filters=retrieval.filters if retrieval else filters, timings=timings,
                  note=retrieval.note if retrieval else "")


def ask(
    question: str,
    history: Sequence[Any] | None = None,
    filters: Filters | None = None,
    settings: Settings | None = None,
    *,
    provider: str | None = None,
    top_k: int | None = None,
    today: date | None = None,
    engine: Engine | None = None,
) -> Iterator[Event]:
    """Answer ``question`` from the indexed articles; see the module docstring for the events."""
    started = time.perf_counter()
    if engine is None:
        if settings is None:
            raise ValueError("ask() needs settings or an engine")
        engine = get_engine(settings)
    settings = settings or engine.settings  # the engine may be shared by settings that differ in [llm]/[answer]
    provider = provider or settings.llm.provider
    filters = filters or Filters()
    question = (question or "").strip()
    if not question:
        yield Error("Ask a question about the indexed articles.")
        return
    timings: dict[str, float] = {}
    try:
        chat = None
        if provider != "extractive":
            from rag.llm import get_chat_model

            chat = get_chat_model(settings, provider)
        turns = normalize_history(history)
        query = rewrite(question, turns, chat if settings.llm.rewrite_followups else None)
        timings["rewrite_ms"] = (time.perf_counter() - started) * 1000
        t0 = time.perf_counter()
        retrieval = engine.retriever.search(query, filters, top_k=top_k, today=today)
        timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        relevant = [h for h in retrieval.hits if h.dense >= settings.answer.min_relevance]
        if not relevant:
            yield Done(_refusal(question, query, retrieval, provider, timings, filters, started))
            return
        hits = list(retrieval.hits)
        t0 = time.perf_counter()
        if chat is None:
            from rag.answer.extractive import extractive_answer

            yield Sources(query, tuple(hits), retrieval.filters, retrieval.note)
            raw = extractive_answer(query, hits, engine.sentences, settings.answer)
            if not raw:
                yield Done(_refusal(question, query, retrieval, provider, timings, filters, started))
                return
            note, complete = retrieval.note, True
            yield Token(raw)
        else:
            from rag.answer.llm import build_messages, stream_tokens

            messages, hits, trimmed = build_messages(query if turns else question, hits, chat, settings.llm.max_tokens)
            yield Sources(query, tuple(hits), retrieval.filters, retrieval.note)
            pieces: list[str] = []
            complete, note = True, " ".join(n for n in (retrieval.note, trimmed) if n)
            try:
                for piece in stream_tokens(chat, messages):
                    pieces.append(piece)
                    yield Token(piece)
                    if len(pieces) > 2 * settings.llm.max_tokens:  # an endpoint that ignores the limit
                        raise ModelError(f"the model went past [llm] max_tokens = {settings.llm.max_tokens}")
            except Exception as exc:  # noqa: BLE001 - a dropped stream keeps what arrived, marked incomplete
                if not pieces:
                    raise ModelError(f"The language model {chat.name} at {chat.endpoint} failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
                complete = False
                note = " ".join(n for n in (note, prompts.INCOMPLETE_NOTE.format(reason=f"{type(exc).__name__}: {exc}"))
                                if n)
            raw = "".join(pieces).strip()
            if complete and (not raw or raw.startswith(prompts.REFUSAL[:30])):
                yield Done(replace(_refusal(question, query, retrieval, provider, timings, filters, started), note=note))
                return
        timings["generate_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        sentences, cited = citations.verify(citations.parse_markers(raw), hits, engine.sentences, settings.answer)
        timings["verify_ms"] = (time.perf_counter() - t0) * 1000
        yield Verdicts(tuple(sentences))
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        answer = Answer(question=question, query=query, text=citations.render(sentences), sentences=tuple(sentences),
                        citations=tuple(cited), refused=False, complete=complete, provider=provider,
                        filters=retrieval.filters, timings=timings, note=note)
        if complete:
            yield Done(answer)
        else:
            yield Error(note, partial=answer)
    except NewsragError as exc:
        yield Error(str(exc))
    except Exception as exc:  # noqa: BLE001 - logged with its traceback, shown to the user as what it is
        log.exception("unexpected error while answering %r", question)
        yield Error(f"Unexpected error ({type(exc).__name__}: {exc}); see the log for details.")


def answer(question: str, history: Sequence[Any] | None = None, filters: Filters | None = None,
           settings: Settings | None = None, **kwargs: Any) -> Answer:
    """The final Answer of :func:`ask` (raises the error as NewsragError)."""
    final: Answer | None = None
    for event in ask(question, history, filters, settings, **kwargs):
        if isinstance(event, Done):
            final = event.answer
        elif isinstance(event, Error):
            raise (ModelError if event.partial else NewsragError)(event.message)
    if final is None:  # pragma: no cover - ask always ends with Done or Error
        raise NewsragError("no answer produced")
    return final


def answer_dict(result: Answer) -> dict[str, Any]:
    """An Answer as plain JSON-ready data (dates as ISO strings)."""
    return json_data(result)  # type: ignore[no-any-return]
