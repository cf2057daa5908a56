"""Figures over time: the successive values a story's articles give for one counted thing (casualties, a price,
votes), with their dates and outlets.

A *figure* is a number written as digits ("300,000", "4.2", "52%") or as a number word followed by a scale
("seven million"), with an optional currency sign before it and scale word after it, followed by the words
it counts: a run of up to three words, stopped by a stopword, punctuation, a digit or a past participle
("300,000 Russian soldiers killed" counts "soldiers"). The run's last word is the *head noun*; its simple
singular (casualties -> casualty) is the figure's key. A noun that names only who is counted (people,
civilians, children, soldiers...) is keyed with the word after it when that says what happened to them
(killed, injured, displaced, affected, fled..., also after "were", "have" and the like): "people were
killed" and "people affected" are two counts, while "refugees" and "refugees fled" are one; without such a
word, a count of people is no figure (on the h1 corpus those were unrelated counts: "47 people", then
"300,000 people", then "14"). A currency sign or a percent sign is part of the key ("$ aid" from "$4.2
billion in aid": after a currency or a percentage, a leading "in"/"of"/"for" is read over).

Not figures: a number nothing countable follows ("at $30,000", "6.4%": what they measure is in the words
before them, which a pattern does not read reliably), years (1800-2100 in digits alone), days of a month
("Feb. 6 earthquake"), labels ("Category 4 hurricane", "Flight 370"), hyphenated numbers ("30-year-old"),
counts of time ("two years") and a few units whose values are of different places, not of one changing
count (temperatures, yards, time zones).

Each dated article gives, per key, only its first figure (a news article states its current figure first;
later ones are often other counts of the same noun). A key is *tracked* when its figures have at least two
distinct values on different days; its values are listed in date order, one line per (day, value) with the
outlets that gave it and the first such sentence as the citation.

Rules (RULES, each measured against hand labels with bench/bench_figures.py; the README has the numbers). A
pattern cannot tell "the same count, later" from "another count of the same noun", so these keep a figure
only where the text shows it is one count:

- "rate": a run with "per" in it is a rate, not a count ("17.2 points per game" counts no games);
- "fraction": a number after "N of" is a fraction's whole ("3 of 11 shots", "five of her 16 attempts");
- "speed": a unit of speed is a measure of a place and a moment, like a temperature ("gusts of 80 mph");
- "subject": the values' sentences share the figure's subject, the name that the most of them give (at least
  two of them, more than half of those naming anything): a sentence naming only others is another count
  ("Lyft" vs "Amazon", "Trump" vs "Weisselberg"); one naming nothing is kept. A name is a capitalised word
  that is not a sentence's first (unless a name elsewhere), a month, a weekday or a stopword, compared by
  its first five letters ("Russia", "Russian");
- "spread": the values come from at least two outlets or three days (one outlet's two numbers on two days
  were, on the h1 labels, mostly two counts).

"owner" (a capitalised possessive before the number is part of the key: "Trump's 34 charges") and
"cumulative" (casualty and damage counts only grow: a later value below 90% of an earlier day's is dropped)
were measured too and are off by default (no gain, and a lost good figure).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from rag.text import STOPWORDS, sentence_spans

FIGURES = 8  # tracked figures per story by default: the ones with the most distinct values

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
          "fifty": 50, "hundred": 100, "a": 1, "several": 3, "dozens": 24, "hundreds": 200}
_SCALES = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "bn": 1e9}
_SCALE = r"(?:hundred|thousand|million|billion|trillion|bn)\b"
_FIGURE_RE = re.compile(
    r"(?<![\w.,\-/])(?P<cur>[$€£])?\s?"
    rf"(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|(?:{'|'.join(_WORDS)})(?=\s+{_SCALE}))"
    rf"(?:\s*(?P<scale>{_SCALE}))?(?:\s*(?P<pct>%|percent\b|per cent\b))?",
    re.IGNORECASE)
_WORD_RE = re.compile(r"\s+([^\W\d_][\w'’\-]*)")
_MONTH_BEFORE_RE = re.compile(r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*$", re.IGNORECASE)
_LEAD_INS = {"in", "of", "for"}
_HALF_RE = re.compile(r"\b(half)\s+$", re.IGNORECASE)
# a number after one of these is a label, not a count: "Category 4 hurricane", "Flight 370 passengers"
_LABEL_BEFORE_RE = re.compile(r"\b(?:category|level|no|number|article|flight|route|highway|interstate|phase|stage|"
                              r"section|title|grade|class|chapter|page|gate|game|round|hole|act|tier|model|version|"
                              r"covid|week|day)\.?\s*$", re.IGNORECASE)
_NOT_COUNTED = frozenset(
    """second minute hour day week month year decade century night weekend time percent per cent am pm old
    point mile km kilometer kilometre meter metre foot feet inch pound kg ton tonne degree north south east west
    long straight high wide deep tall more less time hit made other away ago later earlier apart january february
    march april june july august september october november december monday tuesday wednesday thursday friday
    saturday sunday left celsius fahrenheit yard edt est pdt pst gmt utc across along around near remaining
    """.split()  # noqa: SIM905
)
# after the counted words, one of these says what happened to them: "people killed" is not "people affected"
_OUTCOMES = frozenset("""killed dead died injured wounded hurt missing displaced affected evacuated arrested detained
    homeless rescued fled trapped stranded infected hospitalized""".split())  # noqa: SIM905
# ... of a noun that names only who is counted, not what happened to them
_GENERIC = frozenset("people person civilian resident child children adult men women man woman individual soldier troop".split())  # noqa: SIM905
_AUXILIARIES = frozenset("have has had were was are is been being be already reportedly".split())  # noqa: SIM905
MAX_RUN = 3  # words read after a number
NAME_STEM = 5  # names compare by their first letters: "Russia" and "Russian" are one subject
DIP = 0.9  # a running total may be revised down by 10% at most ("near-monotonic")
# keys whose counts only grow over a story (casualties, damage, people displaced): a later, smaller value is
# another count ("the Camp Fire's 85 dead" after Maui's 96)
_CUMULATIVE = frozenset("""death dead killed died casualty injured wounded fatality victim body structure building
    destroyed displaced fled refugee evacuated arrested detained rescued rescue""".split())  # noqa: SIM905
RULES = ("rate", "fraction", "speed", "subject", "spread")  # track's default (see the module docstring)
ALL_RULES = ("rate", "fraction", "speed", "owner", "subject", "cumulative", "spread")
_SPEEDS = frozenset("mph kph knot mile-per-hour".split())  # noqa: SIM905
# "3 of 11 shooting", "five of her 16 field goals": the number after is a fraction's whole
_FRACTION_BEFORE_RE = re.compile(rf"(?:\d|\b(?:{'|'.join(_WORDS)}))\s+of\s+(?:(?:his|her|their|its|the)\s+)?$",
                                 re.IGNORECASE)
# "Trump's 34 charges", "Maui's toll": whose count it is
_OWNER_BEFORE_RE = re.compile(r"\b([A-Z][\w\-]*)['’]s?\s+(?:[$€£]\s?)?$")
_NAME_RE = re.compile(r"[^\W\d_][\w'’.&\-]*")


@dataclass(frozen=True)
class Mention:
    """One figure in a text: its key, value, words as written and its sentence's span."""

    key: str  # the counted thing: a singular head noun, with "$"/"€"/"£"/"%" in front when it had one
    value: float
    text: str  # as written: "$4.2 billion", "300,000"
    start: int  # its sentence's span in the text (plus the offset given)
    end: int


@dataclass(frozen=True)
class Doc:
    """A dated article as figures read it: its text in pieces (text, offset in the article; pieces may overlap,
    as chunks do) and its citation."""

    article_id: str
    published: date | None
    title: str
    outlet: str
    url: str
    pieces: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class FigureValue:
    """One value of a tracked figure on one day, with the outlets that gave it and the first sentence saying it."""

    published: date
    value: float
    text: str
    outlets: tuple[str, ...]
    sentence: str
    title: str
    url: str
    article_id: str
    start: int  # the sentence's span in the article's cleaned text
    end: int


@dataclass(frozen=True)
class Figure:
    """A counted thing whose value changes over a story: its values in date order."""

    key: str
    values: tuple[FigureValue, ...]


def singular(word: str) -> str:
    """A plural's simple singular, possessive dropped: casualties -> casualty, rounds -> round, inches -> inch,
    night's -> night (not "ss", "us", "is" endings)."""
    word = word.lower().replace("’", "'").removesuffix("'s").rstrip("'")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _value(match: re.Match[str]) -> float:
    num = match["num"].lower()
    value = float(_WORDS[num]) if num in _WORDS else float(num.replace(",", ""))
    return value * _SCALES.get((match["scale"] or "").lower(), 1.0)


def _counted(text: str, pos: int, lead_in: bool, rules: Sequence[str] = RULES) -> str:
    """The head noun of the words counted after ``pos`` ("" when none); a generic one (_GENERIC) with the word
    after it that says what happened to them (_OUTCOMES: "people killed" is not "people affected"), else none.
    With rule "rate", a run with "per" in it is a rate, not a count ("17.2 points per game"): none; with
    "speed", a run that starts with a unit of speed ("150 mph near Cayo Costa"): none."""
    run: list[str] = []
    while len(run) < MAX_RUN and (word := _WORD_RE.match(text, pos)):
        low = word[1].lower()
        if lead_in and not run and low in _LEAD_INS:  # "$4.2 billion in aid", "52% of the vote"
            pos, lead_in = word.end(), False
            if (the := _WORD_RE.match(text, pos)) and the[1].lower() == "the":
                pos = the.end()
            continue
        if low in STOPWORDS or (run and low.endswith(("ed", "ing"))) or text[word.end():word.end() + 1] == "-":
            break
        if "rate" in rules and low == "per" or "speed" in rules and not run and low in _SPEEDS:
            return ""
        run.append(low)
        pos = word.end()
        if text[pos:pos + 1] and not text[pos].isspace():  # "rounds," "casualties." end the run (and the reading)
            break
    if not run or run[-1].endswith("ly"):
        return ""
    head = singular(run[-1])
    for _ in range(3 if head in _GENERIC else 0):  # "people killed", "people have already fled"
        after = _WORD_RE.match(text, pos)
        said = after[1].lower() if after else ""
        if said in _OUTCOMES:
            return f"{head} {said}"
        if said not in _AUXILIARIES or after is None:
            break
        pos = after.end()
    return "" if head in _GENERIC else head


def mentions(text: str, offset: int = 0, rules: Sequence[str] = RULES) -> list[Mention]:
    """Every figure in ``text`` in order, with its sentence's span shifted by ``offset``; ``rules`` as
    :func:`track` takes them (those that read a sentence: "rate", "fraction", "speed", "owner")."""
    out = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        for match in _FIGURE_RE.finditer(sentence):
            num = match["num"]
            plain = not (match["cur"] or match["scale"] or match["pct"])
            if plain and num.isdigit() and len(num) == 4 and 1800 <= int(num) <= 2100:
                continue  # a year
            if _MONTH_BEFORE_RE.search(sentence, 0, match.start()) or _LABEL_BEFORE_RE.search(sentence, 0, match.start()):
                continue  # a day of a month, a label
            if "fraction" in rules and _FRACTION_BEFORE_RE.search(sentence, 0, match.start()):
                continue  # the whole of a fraction: "3 of 11 shooting"
            noun = _counted(sentence, match.end(), bool(match["cur"] or match["pct"]), rules)
            if len(noun) < 3 or noun.split()[0] in _NOT_COUNTED:
                continue
            mark = match["cur"] or ("%" if match["pct"] else "")
            key = f"{mark} {noun}" if mark else noun
            if "owner" in rules and (owner := _OWNER_BEFORE_RE.search(sentence, 0, match.start())):
                key = f"{owner[1]}'s {key}"  # "Trump's 34 charges" is not Weisselberg's 15
            value, written = _value(match), match[0].strip()
            if half := _HALF_RE.search(sentence, 0, match.start()):  # "half a million"
                value, written = value / 2, f"{half[1]} {written}"
            out.append(Mention(key, value, written, start + offset, end + offset))
    return out


def names(sentence: str, known: frozenset[str] = frozenset()) -> frozenset[str]:
    """The names of ``sentence``, each as its first NAME_STEM letters in lower case, dots and possessive dropped
    ("U.N." -> "un", "Russian" -> "russi"): its capitalised words that are not its first word, a stopword (so
    "U.S.", read "us", is none), a month, a weekday or a time zone; its first word too when it is in ``known``
    (a name elsewhere)."""
    out = set()
    for n, match in enumerate(_NAME_RE.finditer(sentence)):
        word = re.sub(r"['’]s?$", "", match[0].rstrip(".-")).replace(".", "")
        low = word.lower()
        if not word[:1].isupper() or low in STOPWORDS or low in _NOT_COUNTED or len(low) < 2:
            continue
        if n or low[:NAME_STEM] in known:
            out.add(low[:NAME_STEM])
    return frozenset(out)


def _same_subject(found: list[tuple[Doc, Mention, str]]) -> list[tuple[Doc, Mention, str]]:
    """The values whose sentences share the figure's subject: the name (or names, tied) that the most of its
    sentences give, when that is at least two of them and more than half of those naming anything; a sentence
    naming nothing is kept, one naming only others is another count ("Lyft" vs "Amazon"). Without a subject,
    only the sentences naming nothing are kept."""
    known = frozenset().union(*(names(s) for _, _, s in found))
    named = [names(s, known) for _, _, s in found]
    counts = Counter(n for ns in named for n in ns)
    top = max(counts.values(), default=0)
    shared = top >= 2 and 2 * top > sum(bool(ns) for ns in named)
    subject = {n for n, c in counts.items() if c == top} if shared else set()
    return [f for f, ns in zip(found, named, strict=True) if not ns or ns & subject]


def _cumulative(key: str, found: list[tuple[Doc, Mention, str]]) -> list[tuple[Doc, Mention, str]]:
    """For a count that only grows (casualties, damage, people displaced: _CUMULATIVE), the values in date
    order without those below DIP times a larger one of an earlier day (another count of the same noun)."""
    if not set(key.split()) & _CUMULATIVE:
        return found
    kept, best, best_day = [], 0.0, date.min
    top_before = 0.0  # the largest value of the days before the current one
    for f in sorted(found, key=lambda f: (f[0].published or date.min, f[0].article_id)):
        day = f[0].published or date.min
        if day != best_day:
            top_before, best_day = best, day
        if f[1].value >= DIP * top_before:
            kept.append(f)
            best = max(best, f[1].value)
    return kept


def _spread(found: Sequence[tuple[Doc, Mention, str]]) -> bool:
    """Whether the values come from at least two (known) outlets or three days."""
    return len({d.outlet for d, _, _ in found if d.outlet}) >= 2 or len({d.published for d, _, _ in found}) >= 3


def _sentences(pieces: Iterable[tuple[str, int]]) -> Iterable[tuple[str, int]]:
    """(text, offset) pieces that may overlap, each part of the article read once: a piece starting inside one
    already read is read from where that one ended."""
    covered = 0
    for text, offset in sorted(pieces, key=lambda p: p[1]):
        skip = max(0, covered - offset)
        if skip < len(text):
            yield text[skip:], offset + skip
        covered = max(covered, offset + len(text))


def track(docs: Sequence[Doc], limit: int = FIGURES, rules: Sequence[str] = RULES) -> list[Figure]:
    """The figures of ``docs`` whose values change over days (see the module docstring), those with the most
    distinct values first (then the most lines, then by key); at most ``limit``. ``rules`` (of ALL_RULES) are
    the checks applied: "subject" (:func:`_same_subject`), "cumulative" (:func:`_cumulative`), "spread"
    (:func:`_spread`)."""
    if unknown := set(rules) - set(ALL_RULES):
        raise ValueError(f"unknown figure rules: {sorted(unknown)}")
    first: dict[str, list[tuple[Doc, Mention, str]]] = {}
    for doc in docs:
        if doc.published is None:
            continue
        seen: set[str] = set()
        for text, offset in _sentences(doc.pieces):
            for m in mentions(text, offset, rules):
                if m.key not in seen:
                    seen.add(m.key)
                    sentence = text[m.start - offset:m.end - offset]
                    first.setdefault(m.key, []).append((doc, m, sentence))
    figures = []
    for key, found in first.items():
        if "subject" in rules:
            found = _same_subject(found)
        if "cumulative" in rules:
            found = _cumulative(key, found)
        if "spread" in rules and not _spread(found):
            continue
        if len({m.value for _, m, _ in found}) < 2 or len({d.published for d, _, _ in found}) < 2:
            continue
        lines: dict[tuple[date, float], list[tuple[Doc, Mention, str]]] = {}
        for doc, m, sentence in sorted(found, key=lambda f: (f[0].published or date.min, f[0].article_id)):
            assert doc.published is not None
            lines.setdefault((doc.published, m.value), []).append((doc, m, sentence))
        if len({v for _, v in lines}) < 2:
            continue
        values = []
        for (day, value), group in sorted(lines.items()):
            doc, m, sentence = group[0]
            values.append(FigureValue(day, value, m.text, tuple(sorted({d.outlet for d, _, _ in group if d.outlet})),
                                      sentence, doc.title, doc.url, doc.article_id, m.start, m.end))
        figures.append(Figure(key, tuple(values)))
    figures.sort(key=lambda f: (-len({v.value for v in f.values}), -len(f.values), f.key))
    return figures[:limit]
