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
from rag.answer import citations, evidence
from rag.answer.corroborate import corroborate
from rag.answer.extractive import asks_for_timeline, timeline_topic
from rag.config import MAX_TOP_K, Settings
from rag.embed import Embedder, get_embedder
from rag.errors import InputError, ModelError, NewsragError
from rag.followup import normalize_history, rewrite
from rag.outlets import outlet_names
from rag.retrieve import Retriever
from rag.schema import Answer, AnswerSentence, Citation, Disagreement, Filters, Hit, Refusal, Retrieval, Shape, json_data
from rag.store import Store, get_store

log = logging.getLogger(__name__)
EXTRA_PASSAGES = 5  # the extractive answerer also reads this many candidates below the context


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
    invalid: bool = False  # the input cannot be used (the CLI exits 2); else something failed on the way


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
        self.store = store or get_store(settings, self.embedder.name)
        self.retriever = Retriever(settings, self.store, self.embedder)
        self.sentences = SentenceCache(self.embedder)

    def warm(self) -> None:
        """Load the model, the lexical index and (in the background) the vector index now rather than on the
        first question."""
        version = self.store.version()  # first: Chroma answers nothing else while it loads the vector index
        self.store.warm()
        self.embedder.embed_query("warm up")
        self.retriever.lexical.get(version)


_ENGINES: dict[Any, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: Settings) -> Engine:
    key = (settings.embed, settings.store, str(settings.index_dir), settings.retrieve)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = Engine(settings)
        return _ENGINES[key]


@dataclass(frozen=True)
class _Turn:
    """What every answer path of one question shares."""

    question: str
    query: str
    retrieval: Retrieval
    provider: str
    settings: Settings
    engine: Engine
    timings: dict[str, float]
    started: float
    topic: str = ""  # what a question about change over time follows (a timeline-shaped answer); "" for others

    def answer(self, sentences: Sequence[AnswerSentence] = (), cited: Sequence[Citation] = (), *,
               refusal: Refusal | None = None, note: str = "", complete: bool = True, lead: str = "",
               lead_citation: int = 0, fallback: str = "", shape: Shape = "answer") -> Answer:
        cited, disagreements = self.corroborate(sentences, cited) if cited and not refusal else (cited, ())
        self.timings["total_ms"] = (time.perf_counter() - self.started) * 1000
        text = prompts.REFUSAL if refusal else citations.render(sentences)
        return Answer(question=self.question, query=self.query, text=text, sentences=tuple(sentences),
                      citations=tuple(cited), refusal=refusal, complete=complete, provider=self.provider,
                      filters=self.retrieval.filters, timings=self.timings, note=note, lead=lead,
                      lead_citation=lead_citation, dates=self.retrieval.dates, today=self.retrieval.today,
                      fallback=fallback, shape=shape, disagreements=disagreements)

    def corroborate(self, sentences: Sequence[AnswerSentence],
                    cited: Sequence[Citation]) -> tuple[list[Citation], tuple[Disagreement, ...]]:
        """The citations with the outlets that state their facts, and where the retrieved sources differ."""
        t0 = time.perf_counter()
        found = corroborate(sentences, cited, (*self.retrieval.hits, *self.retrieval.candidates),
                            self.engine.sentences, self.settings.retrieve.duplicate_threshold,
                            outlet_names(self.settings.ingest.outlets), self.settings.stories.window_days)
        self.timings["corroborate_ms"] = (time.perf_counter() - t0) * 1000
        return [replace(c, outlets=found.outlets.get(c.number, ())) for c in cited], found.disagreements

    def verify(self, raw: str, hits: Sequence[Hit]) -> tuple[list[AnswerSentence], list[Citation]]:
        t0 = time.perf_counter()
        out = citations.verify(citations.parse_markers(raw), hits, self.engine.sentences, self.settings.answer)
        self.timings["verify_ms"] = (time.perf_counter() - t0) * 1000
        return out


def _refuse(turn: _Turn, refusal: Refusal) -> Iterator[Event]:
    """The refusal path: no sources, a typed reason."""
    yield Done(turn.answer(refusal=refusal))


def _extractive(turn: _Turn, note: str = "", fallback: str = "") -> Iterator[Event]:
    """The model-free path: verbatim sentences of the passages, the answering span first; for a question about
    change over time, one sentence an article in publication order."""
    from rag.answer.extractive import chronicle, extract

    shown = {h.passage.chunk_id for h in turn.retrieval.hits}
    extra = [h for h in turn.retrieval.candidates if h.passage.chunk_id not in shown][:EXTRA_PASSAGES]
    hits = [*turn.retrieval.hits, *extra]  # the answer may come from a passage just below the context
    yield Sources(turn.query, tuple(hits), turn.retrieval.filters, note)
    t0 = time.perf_counter()
    shape: Shape = "timeline" if turn.topic else "answer"
    result = (chronicle if turn.topic else extract)(turn.topic or turn.query, hits, turn.engine.sentences,
                                                    turn.settings.answer, turn.engine.retriever.idf)
    turn.timings["generate_ms"] = (time.perf_counter() - t0) * 1000
    if not result.text:
        yield Done(turn.answer(refusal=Refusal("no_answer_sentence", "No sentence of the passages answers it."),
                               note=note))
        return
    yield Token(result.text)
    sentences, cited = turn.verify(result.text, hits)
    yield Verdicts(tuple(sentences))
    number = next((c.number for c in cited if c.chunk_id == hits[result.lead_hit].passage.chunk_id), 0) \
        if result.lead else 0
    yield Done(turn.answer(sentences, cited, note=note, lead=result.lead if number else "", lead_citation=number,
                           fallback=fallback, shape=shape))


def _with_llm(turn: _Turn, chat: Any, use_query: bool) -> Iterator[Event]:
    """The LLM path: stream the model's answer, clean it, verify it; fall back to extraction when it is junk."""
    from rag.answer.generative import build_messages, stream_tokens
    from rag.answer.guards import clean_model_text, mostly_unsupported

    cfg = turn.settings.llm
    messages, hits, trimmed = build_messages(turn.query if use_query else turn.question, list(turn.retrieval.hits),
                                             chat, cfg.max_tokens)
    yield Sources(turn.query, tuple(hits), turn.retrieval.filters, trimmed)
    pieces: list[str] = []
    complete, note = True, trimmed
    t0 = time.perf_counter()
    try:
        for piece in stream_tokens(chat, messages):
            pieces.append(piece)
            yield Token(piece)
            if len(pieces) > 2 * cfg.max_tokens:  # an endpoint that ignores the limit
                raise ModelError(f"the model went past [llm] max_tokens = {cfg.max_tokens}")
    except Exception as exc:  # noqa: BLE001 - a dropped stream keeps what arrived, marked incomplete
        if not pieces:
            raise ModelError(f"The language model {chat.name} at {chat.endpoint} failed: "
                             f"{type(exc).__name__}: {exc}") from exc
        complete = False
        note = " ".join(n for n in (note, prompts.INCOMPLETE_NOTE.format(reason=f"{type(exc).__name__}: {exc}")) if n)
    turn.timings["generate_ms"] = (time.perf_counter() - t0) * 1000
    raw = clean_model_text("".join(pieces))
    if complete and raw.startswith(prompts.REFUSAL[:30]):
        yield Done(turn.answer(refusal=Refusal("model_declined", "The model found no answer in the passages."),
                               note=note))
        return
    sentences, cited = turn.verify(raw, hits) if raw else ([], [])
    if complete and mostly_unsupported([s.verdict for s in sentences]):
        yield from _extractive(turn, " ".join(n for n in (note, prompts.FALLBACK_NOTE) if n),
                               fallback="most of the model's sentences were not supported by the passages")
        return
    yield Verdicts(tuple(sentences))
    result = turn.answer(sentences, cited, note=note, complete=complete)
    yield Done(result) if complete else Error(note, partial=result)


def invalid_input(question: str, filters: Filters, top_k: int | None, today: date | None) -> str:
    """Why the question or its settings cannot be used, or "" (checked before any work)."""
    from rag.dates import EARLIEST, LATEST

    if not question:
        return "Ask a question about the indexed articles."
    for label, text in (("question", question), *(("outlet", o) for o in filters.outlets)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"The {label} holds something that is not text (invalid UTF-8 or a lone surrogate at character "
                    f"{exc.start + 1}). Type it again, or paste it as plain text.")
    if filters.since and filters.until and filters.since > filters.until:
        return (f"The date range is reversed: from {filters.since.isoformat()} to {filters.until.isoformat()}. "
                "Swap the two dates.")
    for label, day in (("today", today), ("since", filters.since), ("until", filters.until)):
        if day is not None and not EARLIEST <= day <= LATEST:
            return f"The {label} day {day.isoformat()} is out of range: use a day between {EARLIEST} and {LATEST}."
    if top_k is not None and not 0 < top_k <= MAX_TOP_K:
        return f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}."
    return ""


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
    """Answer ``question`` from the indexed articles; see the module docstring for the events.

    ``today`` means "as of": relative dates resolve against it and later articles rank last."""
    started = time.perf_counter()
    filters = filters or Filters()
    question = (question or "").strip()
    if problem := invalid_input(question, filters, top_k, today):  # before any model or index is opened
        yield Error(problem, invalid=True)
        return
    if engine is None:
        if settings is None:
            raise ValueError("ask() needs settings or an engine")
        engine = get_engine(settings)
    settings = settings or engine.settings  # the engine may be shared by settings that differ in [llm]/[answer]
    provider = provider or settings.llm.provider
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
        # a question about change over time searches for its subject ("timeline" itself would find history pages)
        topic = timeline_topic(query) if asks_for_timeline(query) else ""
        retrieval = engine.retriever.search(topic or query, filters, top_k=top_k, today=today)
        timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        # whether the corpus covers the question is judged on every candidate ...
        declined = evidence.refusal(query, retrieval.candidates, settings.answer, engine.retriever)
        if not declined and (years := evidence.question_years(query, retrieval.today)):
            # ... and the answer comes only from passages that can speak of the years asked about
            about = retrieval.keep(lambda hit: evidence.speaks_of(hit, years))
            declined = evidence.other_year(years, retrieval.candidates) if not about.hits else None
            retrieval = about
        turn = _Turn(question, query, retrieval, provider, settings, engine, timings, started, topic)
        if declined:
            yield from _refuse(turn, declined)
        elif chat is None:
            yield from _extractive(turn)
        else:
            yield from _with_llm(turn, chat, use_query=query != question)
    except NewsragError as exc:
        yield Error(str(exc), invalid=isinstance(exc, InputError))
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
            raise (ModelError if event.partial else InputError if event.invalid else NewsragError)(event.message)
    if final is None:  # pragma: no cover - ask always ends with Done or Error
        raise NewsragError("no answer produced")
    return final


def answer_dict(result: Answer) -> dict[str, Any]:
    """An Answer as plain JSON-ready data (dates as ISO strings), with ``refused`` spelled out."""
    data: dict[str, Any] = json_data(result)
    data["refused"] = result.refused
    data["as_of"] = result.as_of.isoformat() if result.as_of else None
    return data
