"""Corroboration and disagreement: how many independent outlets state each cited fact, and where they differ.

A cited fact is the sentence of a cited passage that supports the answer (its *quote*). It is **corroborated** by
a sentence of another retrieved passage (the candidates the answerer already has: no extra search) when

1. the passage's outlet is another outlet (outlets compare case-insensitively; one outlet counts once),
2. the passage is not a syndicated copy of the cited passage or of a passage already counted (word 5-gram Jaccard
   at ``[retrieve] duplicate_threshold``, the rule that collapses copies at retrieval; exact copies never reach the
   index: ingest keeps them as aliases), and the citation's own ``also_reported`` copies are not counted either,
3. the sentence holds every number of the fact (years and days of dates aside: "in 2023" may go unsaid) and, when
   the fact has no number, shares one of its names,
4. it holds at least :data:`SHARED_WORDS` of the fact's content words, and is among the :data:`MAX_COMPARED`
   sentences that hold most (the cheap tests keep the embedding to a few sentences an answer), and
5. its embedding is at least :data:`SAME_FACT` similar to the fact's.

Two sentences **disagree** when they are about the same thing (embedding similarity at least :data:`SAME_SUBJECT`,
a shared name, and, when both are dated, published at most ``window_days`` apart: ``[stories] window_days``, the
span within which articles can be about one event; a figure a year apart is another year's, "35-year-old" then
"34-year-old") and each holds a figure counting the same head noun ("300,000 casualties", "nearly 250,000
casualties") whose values cannot both be true: their ranges, read from the qualifier ("nearly", "more than",
"about"), do not overlap. A generic noun ("people", "times") must also follow the same word ("killed 20 people" and
"injured 50 people" count different things); a sentence that holds both values ("rose from 20 to 25 people") never
disagrees, nor do two passages of one article. Two articles of one outlet may (a toll that rose between its reports:
the dates shown say so). Figures are written in digits; number words, ordinals, days of dates and years are not read
as counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from rag.answer.citations import EmbedFn
from rag.outlets import OutletNames, outlet_names
from rag.retrieve import near_duplicate
from rag.schema import AnswerSentence, Citation, Disagreement, FigureValue, Hit, outlet_key
from rag.stories import names
from rag.text import STOPWORDS, sentence_spans

SHARED_WORDS = 0.3  # a sentence is compared with a fact only if it holds this share of the fact's content words
MAX_COMPARED = 12  # and only the sentences holding most of them (each compared sentence is embedded)
SAME_FACT = 0.7  # cosine at which a sentence of another outlet states the cited fact (with its numbers)
SAME_SUBJECT = 0.75  # cosine at which two sentences with a figure of the same noun are about the same thing
MAX_CANDIDATES = 40  # retrieved passages read, best first (the cited ones always)

_QUALIFIER = (r"more than|less than|fewer than|at least|at most|up to|just over|just under|nearly|almost|about|"
              r"around|approximately|roughly|some|over|under|an estimated|estimated")
_FIGURE = re.compile(
    rf"(?:\b(?P<qual>{_QUALIFIER})\s+)?(?P<cur>[$£€¥])?\s?(?P<num>(?<![\w.,])\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|"
    rf"(?<![\w.,])\d+(?:\.\d+)?)(?![\w,]*\d)(?:\s?(?P<scale>thousand|million|billion|trillion|bn|m|k)\b)?"
    r"(?:\s?(?P<pct>%|percent\b|per cent\b))?", re.IGNORECASE)
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_MONTH_BEFORE = re.compile(rf"\b{_MONTH}\s*$", re.IGNORECASE)
_MONTH_AFTER = re.compile(rf"(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b", re.IGNORECASE)
_GLUED = re.compile(r"[^\W_]|[-–/]\d")
_TOKEN = re.compile(r"[^\W_]+")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_GENERIC = frozenset(  # nouns that count many kinds of things: the word before the figure must match too
    "people person time year day month week hour other percent cent".split())  # noqa: SIM905
_NOT_NOUNS = STOPWORDS | frozenset("per cent percent".split())  # noqa: SIM905
#: words between a figure and the noun it counts: "94 best picture winners", "10 straight wins"
_MODIFIER_WORDS = ("best top new more other additional straight consecutive full major total separate extra former "
                   "current previous last first small large big old young different")
_MODIFIERS = frozenset(_MODIFIER_WORDS.split())


@dataclass(frozen=True)
class Figure:
    """A number in a sentence, the noun it counts (singular, lower-case; "" when none follows) and its range."""

    text: str  # as written, qualifier included: "nearly 250,000"
    value: float
    unit: str  # "$", "%" or "" : figures of different units never compare
    noun: str
    word: str  # the noun as written, lower-case: "casualties"
    before: str  # the content word just before it (a generic noun's verb: "killed")
    modifiers: tuple[str, ...]  # words between it and its noun that say which of them: "new", "total"
    low: float
    high: float

    @property
    def year(self) -> bool:
        return not self.unit and self.value.is_integer() and 1800 <= self.value <= 2100 and "," not in self.text


def _singular(word: str) -> str:
    word = word.lower().replace("’", "'")
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _range(value: float, qualifier: str) -> tuple[float, float]:
    q = qualifier.lower()
    if q in ("more than", "at least", "over", "just over"):
        return value, math.inf
    if q in ("less than", "fewer than", "at most", "up to", "under"):
        return 0.0, value
    if q in ("nearly", "almost", "just under"):
        return value * 0.9, value
    if q:  # about, around, some, an estimated ...
        return value * 0.9, value * 1.1
    return value, value


def figures(sentence: str) -> list[Figure]:
    """The figures written in digits in ``sentence``."""
    out = []
    for m in _FIGURE.finditer(sentence):
        if _MONTH_BEFORE.search(sentence, 0, m.start()) or _MONTH_AFTER.match(sentence, m.end()):
            continue  # a day of a date: "Sept. 1", "5 September"
        if _GLUED.match(sentence, m.end()) or sentence[max(0, m.start() - 1):m.start()] in ("-", "–", "/"):
            continue  # an ordinal or a code ("10th", "5G"), or part of a range or a name ("2015-19", "Covid-19")
        value = float(m["num"].replace(",", "")) * _SCALES.get((m["scale"] or "").lower(), 1.0)
        unit = "%" if m["pct"] else (m["cur"] or "")
        noun = word = ""
        words = _WORD.findall(sentence[m.end():m.end() + 40])
        modifiers = []
        while len(words) > 1 and (words[0][0].isupper() or words[0].lower() in _MODIFIERS):
            if words[0][0].islower():  # "12 new moons" and "92 total moons" count different things
                modifiers.append(words[0].lower())
            words = words[1:]  # "300,000 Russian troops", "94 best picture winners": the noun comes later
        if words and words[0][0].islower() and words[0].lower() not in _NOT_NOUNS:
            word = words[0].lower()
            noun = _singular(word)
        prior = [w for w in _WORD.findall(sentence[max(0, m.start() - 40):m.start()]) if w.lower() not in STOPWORDS]
        low, high = _range(value, m["qual"] or "")
        out.append(Figure(m.group(0).strip(), value, unit, noun, word, prior[-1].lower() if prior else "",
                          tuple(modifiers), low, high))
    return out


def _numbers(found: Sequence[Figure]) -> set[tuple[float, str]]:
    return {(f.value, f.unit) for f in found if not f.year}


def _near(a: date | None, b: date | None, days: int) -> bool:
    """Published within ``days`` of each other, or either undated (an unknown date is never held against it)."""
    return a is None or b is None or abs((a - b).days) <= days


def _conflict(a: Figure, b: Figure) -> bool:
    """Figures counting the same thing whose ranges cannot both hold."""
    if not a.noun or (a.noun, a.unit, a.modifiers) != (b.noun, b.unit, b.modifiers) or a.year or b.year:
        return False
    if a.noun in _GENERIC and (not a.before or a.before != b.before):
        return False
    return a.high < b.low or b.high < a.low


@dataclass(frozen=True)
class _Sentence:
    text: str
    hit: Hit
    outlet: str  # the name counted
    citation: int  # its source number, 0 when the passage is not cited
    words: frozenset[str]  # lower-case words but stopwords: how much of a fact it holds, cheaply

    @property
    def figures(self) -> tuple[Figure, ...]:
        return _figures(self.text)

    @property
    def names(self) -> frozenset[str]:
        return _names(self.text)


@lru_cache(maxsize=4096)
def _figures(sentence: str) -> tuple[Figure, ...]:
    return tuple(figures(sentence))


@lru_cache(maxsize=4096)
def _names(sentence: str) -> frozenset[str]:
    return names("", sentence)


@dataclass(frozen=True)
class Corroboration:
    """Per citation number: the outlets that state its quoted fact (its own first); and where sources differ."""

    outlets: dict[int, tuple[str, ...]]
    disagreements: tuple[Disagreement, ...]


def outlet_name(hit: Hit, table: OutletNames) -> str:
    """The outlet a passage counts as: its outlet's canonical name, else its URL's ("" when neither is known)."""
    return table.canonical(hit.passage.outlet or hit.passage.url)


def _quotes(sentences: Sequence[AnswerSentence]) -> dict[int, str]:
    quotes: dict[int, str] = {}
    for sentence in sentences:
        for support in sentence.support:
            quotes.setdefault(support.citation, support.sentence)
    return quotes


def _pool(citations: Sequence[Citation], candidates: Sequence[Hit], table: OutletNames) -> list[_Sentence]:
    """Every sentence of the cited passages and of the best candidates, with the outlet each counts as."""
    by_chunk = {c.chunk_id: c.number for c in citations}
    seen: set[str] = set()
    out = []
    for hit in candidates:
        if hit.passage.chunk_id in seen or (len(seen) >= MAX_CANDIDATES and hit.passage.chunk_id not in by_chunk):
            continue
        seen.add(hit.passage.chunk_id)
        text, outlet, number = hit.passage.text, outlet_name(hit, table), by_chunk.get(hit.passage.chunk_id, 0)
        for s, e in sentence_spans(text):
            sentence = text[s:e]
            out.append(_Sentence(sentence, hit, outlet, number, frozenset(_TOKEN.findall(sentence.lower())) - STOPWORDS))
    return out


def corroborate(sentences: Sequence[AnswerSentence], citations: Sequence[Citation], candidates: Sequence[Hit],
                embed: EmbedFn, duplicate_threshold: float, table: OutletNames | None = None,
                window_days: int = 7) -> Corroboration:
    """Who else states each cited fact, and the figures the sources give differently (see the module docstring).

    ``candidates``: the retrieved passages, best first; they must include the cited ones (the service passes the
    hits the answerer read followed by the retrieval's candidates). ``table`` names outlets (``[ingest] outlets``);
    ``window_days`` is how far apart two dated passages can be and still disagree."""
    table = table or outlet_names()
    quotes = _quotes(sentences)
    pool = _pool(citations, candidates, table)
    facts = {c.number: next((s for s in pool if s.citation == c.number and s.text == quotes.get(c.number)), None)
             for c in citations}
    # cheap tests first; only sentences that pass one are embedded
    wanted: dict[int, list[_Sentence]] = {}
    rivals: dict[int, list[tuple[_Sentence, Figure, Figure]]] = {}
    for number, fact in facts.items():
        if fact is None:
            continue
        own, words = fact.figures, fact.words
        needed = _numbers(own)
        shared = {id(other): len(words & other.words) / max(1, len(words)) for other in pool
                  if other.outlet and other.hit.passage.article_id != fact.hit.passage.article_id}
        for other in sorted((o for o in pool if shared.get(id(o), 0.0) >= SHARED_WORDS),
                            key=lambda o: -shared[id(o)])[:MAX_COMPARED]:
            theirs = other.figures
            if outlet_key(other.outlet) != outlet_key(fact.outlet) and (
                    needed <= _numbers(theirs) if needed else bool(fact.names & other.names)):
                wanted.setdefault(number, []).append(other)
            if fact.names & other.names and _near(fact.hit.passage.published, other.hit.passage.published, window_days):
                values = {(f.value, f.unit) for f in theirs}
                rivals.setdefault(number, []).extend(
                    (other, a, b) for a in own for b in theirs
                    if _conflict(a, b) and (a.value, a.unit) not in values and (b.value, b.unit) not in _numbers(own))
    texts = list(dict.fromkeys([f.text for f in facts.values() if f] + [s.text for v in wanted.values() for s in v]
                               + [r[0].text for v in rivals.values() for r in v]))
    vectors = dict(zip(texts, embed(texts))) if texts else {}

    def similar(a: str, b: str) -> float:
        return float(np.dot(vectors[a], vectors[b]))

    outlets: dict[int, tuple[str, ...]] = {}
    for c in citations:
        fact = facts[c.number]
        own_name = fact.outlet if fact else table.canonical(c.outlet or c.url)
        counted = [own_name] if own_name else []
        if fact is None:
            outlets[c.number] = tuple(counted)
            continue
        keys = {outlet_key(table.canonical(n)) for n in (own_name, *c.also_reported)}
        texts_counted = [fact.hit.passage.text]
        for other in wanted.get(c.number, []):
            key = outlet_key(other.outlet)
            if key in keys or similar(fact.text, other.text) < SAME_FACT:
                continue
            if any(near_duplicate(t, other.hit.passage.text, duplicate_threshold) for t in texts_counted):
                continue  # a syndicated copy of a passage already counted
            keys.add(key)
            counted.append(other.outlet)
            texts_counted.append(other.hit.passage.text)
        outlets[c.number] = tuple(counted)

    found: dict[tuple[str, str], list[FigureValue]] = {}
    written: dict[tuple[str, str], str] = {}
    for number, items in rivals.items():
        fact = facts[number]
        assert fact is not None
        for other, a, b in items:
            if similar(fact.text, other.text) >= SAME_SUBJECT:
                written.setdefault((a.noun, a.unit), a.word)
                found.setdefault((a.noun, a.unit), []).extend((_value(a, fact), _value(b, other)))
    disagreements = (Disagreement(written[key], _one_per_value(values)) for key, values in found.items())
    return Corroboration(outlets, tuple(d for d in disagreements if len(d.values) > 1))


def _value(figure: Figure, sentence: _Sentence) -> FigureValue:
    p = sentence.hit.passage
    return FigureValue(figure.text, sentence.outlet, p.published, sentence.citation, sentence.text)


def _one_per_value(values: Sequence[FigureValue]) -> tuple[FigureValue, ...]:
    """One value per figure as written: the cited one first, else the first seen."""
    out: dict[str, FigureValue] = {}
    for v in sorted(values, key=lambda v: v.citation == 0):
        out.setdefault(v.text.lower(), v)
    return tuple(out.values())
