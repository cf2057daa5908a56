"""The typed records that flow between stages: files -> Article -> Chunk -> (index) -> Hit -> Answer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|smid|ref|ref_src)$", re.IGNORECASE)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no tracking parameters, no default port.

    The fragment is kept: some corpora (realtimeqa-dev) tell passages of one page apart by it.
    """
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (parts.scheme == "https" and netloc.endswith(":443")):
        netloc = netloc.rsplit(":", 1)[0]
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, parts.fragment))


def url_article_id(url: str) -> str:
    """The id ingest gives an article with this URL."""
    return Article(key=f"url:{canonical_url(url)}", title="", text="", source="").id


def sha1_hex(text: str, length: int = 16) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def date_key(day: date) -> int:
    """A date as an integer YYYYMMDD: ordered, so Chroma ``$gte``/``$lte`` filters select ranges."""
    return day.year * 10000 + day.month * 100 + day.day


def date_from_key(key: int) -> date:
    return date(key // 10000, key // 100 % 100, key % 100)


def outlet_key(outlet: str) -> str:
    """Outlets compare case-insensitively: "CNN" and "cnn" are one outlet."""
    return " ".join(outlet.split()).casefold()


@dataclass(frozen=True)
class Article:
    """One news article after loading and cleaning.

    ``text`` is the cleaned body; chunk offsets and citation spans index into it.
    ``key`` is what identifies the article across runs: its canonical URL when it
    has one, else its source file (plus a position for multi-article files).
    ``note`` says what loading repaired or decided (a replaced character, an ambiguous date left out,
    a later record of the same URL that won); it is reported, never indexed or hashed.
    """

    key: str
    title: str
    text: str
    source: str
    published: date | None = None
    outlet: str = ""
    url: str = ""
    note: str = field(default="", compare=False)
    # (month, day) when ``published`` was read without a year (a wire dateline "Sept 5"): the indexer gives it the
    # year nearest the corpus's "today" (ingest.published.resolve_yearless)
    yearless: tuple[int, int] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return "a" + sha1_hex(self.key)

    def content_hash(self, fingerprint: str = "") -> str:
        """Hash of everything that ends up in the index, plus the chunking/embedding fingerprint."""
        parts = [self.title, self.text, self.published.isoformat() if self.published else "",
                 self.outlet, self.url, fingerprint]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]

    def text_hash(self) -> str:
        """Hash of the body alone: two files with the same body are the same article (an alias)."""
        return hashlib.sha256(" ".join(self.text.split()).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Chunk:
    """A piece of an article that fits the embedding model.

    ``start``/``end`` are character offsets into ``Article.text``; ``embed_text``
    is what the model sees (the title prefix plus the text).
    """

    id: str
    article_id: str
    position: int
    text: str
    start: int
    end: int
    embed_text: str


Outcome = Literal["added", "updated", "unchanged", "duplicate", "failed", "removed"]


@dataclass(frozen=True)
class ArticleReport:
    """What happened to one article (or one file that yielded no article) in an ingest run."""

    source: str
    outcome: Outcome
    title: str = ""
    article_id: str = ""
    chunks: int = 0
    reason: str = ""


@dataclass(frozen=True)
class IngestReport:
    """Per-article outcomes of a run, plus ``notes``: what the run found wrong with the index and repaired
    (an interrupted earlier run, a damaged lexical index), in words for the user."""

    items: tuple[ArticleReport, ...] = ()
    seconds: float = 0.0
    chunks_embedded: int = 0
    notes: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.items if item.outcome == outcome)

    @property
    def totals(self) -> dict[str, int]:
        return {o: self.count(o) for o in ("added", "updated", "unchanged", "duplicate", "failed", "removed")}

    @property
    def failed(self) -> bool:
        return self.count("failed") > 0

    def __add__(self, other: IngestReport) -> IngestReport:
        """Two runs (or a run and the items rejected before it) as one report."""
        return IngestReport(self.items + other.items, self.seconds + other.seconds,
                            self.chunks_embedded + other.chunks_embedded, self.notes + other.notes)


@dataclass(frozen=True)
class Interruption:
    """An ingest run that started and has not finished cleanly: under way now (``running``), or killed or
    failed, leaving ``pending`` articles half-written and the lexical index possibly behind Chroma."""

    started: float  # Unix time; 0.0 when unknown
    running: bool
    pending: int

    def describe(self) -> str:
        """What the counts mean and what the next run will do, in words."""
        when = (datetime.fromtimestamp(self.started).strftime("at %Y-%m-%d %H:%M:%S") if self.started
                else "at an unknown time")
        if self.running:
            return f"an ingest started {when} is under way: the counts are partial until it finishes"
        repair = (f"{self.pending} article(s) were left half-written; the next `newsrag ingest` will finish or "
                  "undo them," if self.pending else "The next `newsrag ingest` will")
        return (f"the ingest started {when} was interrupted, so the counts are partial. {repair} index the files "
                "it did not reach and rebuild the lexical index")


@dataclass(frozen=True)
class IndexStats:
    articles: int
    chunks: int
    aliases: int
    outlets: tuple[tuple[str, int], ...]
    first_date: date | None
    last_date: date | None
    location: str
    embedding_model: str
    interrupted: Interruption | None = None  # the last ingest did not finish: the counts are partial


# -- retrieval -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Which articles a question may draw on: publication date range and outlets (case-insensitive)."""

    since: date | None = None
    until: date | None = None
    outlets: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.outlets)


@dataclass(frozen=True)
class DateRange:
    """A date range read from a question ("last week", "in September 2023"): a ranking signal, not a filter."""

    since: date | None = None
    until: date | None = None
    text: str = ""  # the words of the question that named it

    def __bool__(self) -> bool:
        return self.since is not None or self.until is not None


@dataclass(frozen=True)
class Passage:
    """A stored chunk with what a citation needs: its article's metadata and its offsets in the article."""

    chunk_id: str
    article_id: str
    text: str
    title: str
    outlet: str
    url: str
    published: date | None
    start: int
    end: int
    source: str = ""
    position: int = 0
    story: str = ""  # the story (rag.stories) of its article; "" for an index without stories


@dataclass(frozen=True)
class Hit:
    """A retrieved passage, its fused score and why it was retrieved."""

    passage: Passage
    score: float
    dense: float = 0.0  # cosine similarity to the question (0 if not a dense candidate)
    lexical: float = 0.0  # BM25 score
    why: str = ""
    also_reported: tuple[str, ...] = ()  # outlets whose near-identical passage was collapsed into this one


@dataclass(frozen=True)
class Retrieval:
    query: str
    hits: tuple[Hit, ...]  # the context: diverse, capped per article, best first
    candidates: tuple[Hit, ...]  # every fused candidate, best first (the answerer may look past the context)
    filters: Filters  # the explicit filters applied (exact)
    dates: DateRange = field(default_factory=DateRange)  # the date range read from the question (a ranking signal)
    today: date | None = None  # the day relative dates and recency were resolved against
    as_of: bool = False  # True when ``today`` was given: articles published after it rank after all others

    def keep(self, wanted: Callable[[Hit], bool]) -> Retrieval:
        """The same retrieval with only the hits and candidates ``wanted`` accepts (order kept)."""
        return replace(self, hits=tuple(h for h in self.hits if wanted(h)),
                       candidates=tuple(h for h in self.candidates if wanted(h)))

    @property
    def ranked_articles(self) -> tuple[str, ...]:
        """Every candidate article id, best first (for evaluation)."""
        return tuple(dict.fromkeys(h.passage.article_id for h in self.candidates))


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    """A numbered source as shown to the reader."""

    number: int
    article_id: str
    chunk_id: str
    title: str
    outlet: str
    published: date | None
    url: str
    source: str
    passage: str  # the chunk text
    passage_start: int  # chunk offsets in the article's cleaned text
    passage_end: int
    also_reported: tuple[str, ...] = ()
    story: str = ""  # the story (rag.stories) its article belongs to; "" when unknown
    outlets: tuple[str, ...] = ()  # independent outlets stating its quoted fact, its own first (rag.answer.corroborate)


@dataclass(frozen=True)
class FigureValue:
    """One source's figure in a :class:`Disagreement`."""

    text: str  # as written, qualifier included: "nearly 250,000"
    outlet: str
    published: date | None
    citation: int  # its source number in the answer; 0 for a retrieved passage the answer does not cite
    sentence: str  # the sentence it is read from


@dataclass(frozen=True)
class Disagreement:
    """Sources that give different figures for the same thing ("300,000 casualties" vs "nearly 250,000")."""

    noun: str  # what is counted, as the first cited sentence writes it: "casualties"
    values: tuple[FigureValue, ...]  # at least two, cited sources first


@dataclass(frozen=True)
class Support:
    """Where a sentence of the answer is supported: a sentence of a cited passage."""

    citation: int
    sentence: str
    start: int  # character span of the supporting sentence in the article's cleaned text
    end: int
    similarity: float
    overlap: float


Verdict = Literal["supported", "attached", "unsupported", "neutral"]


@dataclass(frozen=True)
class AnswerSentence:
    text: str  # without citation markers
    citations: tuple[int, ...]
    verdict: Verdict  # supported by a cited passage; marker attached by the verifier; or no support found
    support: tuple[Support, ...] = ()


RefusalKind = Literal["no_passage", "language", "missing_terms", "other_year", "low_similarity", "no_answer_sentence",
                      "model_declined"]


@dataclass(frozen=True)
class Refusal:
    """Why newsrag declined to answer: the question is not covered by the indexed articles."""

    kind: RefusalKind
    reason: str  # for the reader, e.g. 'The indexed articles never mention “Tour de France”.'
    missing: tuple[str, ...] = ()  # the question's named terms found nowhere


Shape = Literal["answer", "timeline"]


@dataclass(frozen=True)
class Answer:
    question: str
    query: str  # the standalone query retrieval used
    text: str  # the answer with [n] markers, numbered as in ``citations``
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    refusal: Refusal | None = None
    complete: bool = True  # False when the model stopped mid-answer (connection dropped, timeout)
    provider: str = "extractive"
    filters: Filters = field(default_factory=Filters)
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""
    lead: str = ""  # the shortest verbatim span that answers (extractive), shown first and bold; "" when none
    lead_citation: int = 0  # the source number ``lead`` comes from
    dates: DateRange = field(default_factory=DateRange)  # the date range read from the question (a ranking signal)
    today: date | None = None  # the day relative dates were resolved against
    fallback: str = ""  # why the extractive answer replaced the model's, if it did
    shape: Shape = "answer"  # "timeline": one sentence an article, in publication order (a question about change)
    disagreements: tuple[Disagreement, ...] = ()  # figures the sources give differently (rag.answer.corroborate)

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    @property
    def unsupported(self) -> int:
        return sum(1 for s in self.sentences if s.verdict == "unsupported")

    @property
    def as_of(self) -> date | None:
        """The newest publication date among the cited sources: what the answer is current to (None when no
        cited source is dated, or nothing is cited)."""
        return max((c.published for c in self.citations if c.published is not None), default=None)


def json_data(value: Any) -> Any:
    """A dataclass (or anything holding them) as plain JSON-ready data: dates as ISO strings, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: json_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_data(v) for v in value]
    return value


def _day(value: Any) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that are fields of dataclass ``cls`` (older or newer records may hold others)."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in data.items() if k in names}


def answer_from_data(data: dict[str, Any]) -> Answer:
    """The :class:`Answer` that :func:`json_data` turned into ``data`` (as a saved chat turn keeps it)."""
    citations = tuple(Citation(**{**_known(Citation, c), "published": _day(c.get("published")),
                                  "also_reported": tuple(c.get("also_reported") or ()),
                                  "outlets": tuple(c.get("outlets") or ())})
                      for c in data.get("citations") or ())
    disagreements = tuple(Disagreement(d.get("noun", ""), tuple(
        FigureValue(**{**_known(FigureValue, v), "published": _day(v.get("published"))}) for v in d.get("values") or ()))
        for d in data.get("disagreements") or ())
    sentences = tuple(AnswerSentence(s["text"], tuple(s.get("citations") or ()), s.get("verdict", "neutral"),
                                     tuple(Support(**_known(Support, x)) for x in s.get("support") or ()))
                      for s in data.get("sentences") or ())
    r = data.get("refusal")
    refusal = Refusal(r["kind"], r.get("reason", ""), tuple(r.get("missing") or ())) if r else None
    f, d = data.get("filters") or {}, data.get("dates") or {}
    plain = _known(Answer, {k: v for k, v in data.items()
                            if k not in ("citations", "sentences", "refusal", "filters", "dates", "today",
                                         "disagreements")})
    return Answer(**{**plain, "sentences": sentences, "citations": citations, "refusal": refusal,
                     "disagreements": disagreements,
                     "filters": Filters(_day(f.get("since")), _day(f.get("until")), tuple(f.get("outlets") or ())),
                     "dates": DateRange(_day(d.get("since")), _day(d.get("until")), d.get("text", "")),
                     "today": _day(data.get("today"))})
