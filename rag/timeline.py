"""A story's timeline: its articles in date order, each with one cited sentence, and the figures its articles
give that change over time (:mod:`rag.figures`); and the digest: the top stories of a window of days by how many
outlets covered them, with their newest leads. Both also as Markdown (the CLI prints it, the UI offers it).

A story is named by its id or found by words: the story whose articles' title words and names hold the
most of the query's content words (ties: the larger story, then the newer). Each article gives its lead:
the first sentence of its text with at least ``MIN_WORDS`` words (a news lead says what happened), cited
by its title, outlet, date, URL and the sentence's character span in the article's cleaned text. Given an
embedder, one event reported the same day by several outlets is one line with all of them
(:func:`one_line_per_report`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np

from rag.figures import FIGURES, RULES, Doc, Figure, FigureValue, track
from rag.store import Store
from rag.stories import StoryTable
from rag.text import sentence_spans, terms

MIN_WORDS = 8  # shorter "sentences" are bylines, datelines and captions
DIGEST_DAYS = 7  # a digest's default window: the last week before today
DIGEST_STORIES = 10  # stories in a digest by default
DIGEST_LEADS = 2  # cited lead sentences per story


@dataclass(frozen=True)
class Event:
    """One line of a timeline: an article's lead sentence and where it is."""

    published: date | None
    sentence: str
    title: str
    outlet: str
    url: str
    article_id: str
    start: int  # the sentence's span in the article's cleaned text
    end: int
    reported_by: tuple[str, ...] = ()  # other outlets whose same-day lead says the same (:func:`one_line_per_report`)

    @property
    def outlets(self) -> tuple[str, ...]:
        """Its outlet, then the other outlets that reported it the same day."""
        return tuple(o for o in (self.outlet, *self.reported_by) if o)


def one_line_per_report(events: Sequence[Event], embed: Callable[[Sequence[str]], np.ndarray]) -> list[Event]:
    """Events in order, with each article whose lead says what an earlier line of the same day says (embedding
    similarity at least :data:`rag.answer.corroborate.SAME_FACT`, as a fact is counted for an answer) from another
    outlet folded into that line as one more outlet that reported it. Undated events are never folded (their day
    is unknown); only the leads of days with two or more outlets are embedded."""
    from rag.answer.corroborate import SAME_FACT

    outlets_of: dict[date, set[str]] = {}
    for e in events:
        if e.published is not None and e.outlet:
            outlets_of.setdefault(e.published, set()).add(e.outlet)
    shared = [i for i, e in enumerate(events) if e.published is not None and len(outlets_of.get(e.published, ())) > 1]
    if not shared:
        return list(events)
    vectors = dict(zip(shared, embed([events[i].sentence for i in shared])))
    kept: list[int] = []  # indices of the events that stay lines
    folded: dict[int, list[str]] = {}  # a kept index -> the outlets folded into its line
    for i, event in enumerate(events):
        into = next((k for k in kept if i in vectors and k in vectors and events[k].published == event.published
                     and event.outlet and event.outlet not in (events[k].outlet, *folded.get(k, ()))
                     and float(vectors[i] @ vectors[k]) >= SAME_FACT), None)
        if into is None:
            kept.append(i)
        else:
            folded.setdefault(into, []).append(event.outlet)
    return [replace(events[k], reported_by=tuple(folded[k])) if k in folded else events[k] for k in kept]


def find_story(table: StoryTable, query: str) -> str | None:
    """The story named ``query`` (its id), else the one whose articles' title words and names hold the most of
    the query's content words; None when none holds any."""
    if query in table.members:
        return query
    wanted = set(terms(query))
    best: tuple[int, int, int, str] | None = None
    for story, ids in table.members.items():
        words: set[str] = set()
        newest = 0
        for article_id in ids:
            row = table.row[article_id]
            title, found = table.words(row)
            words |= title | found
            newest = max(newest, int(table.days[row]))
        key = (len(wanted & words), len(ids), newest, story)
        if key[0] and (best is None or key > best):
            best = key
    return best[3] if best else None


def lead(text: str, offset: int = 0) -> tuple[str, int, int]:
    """The first sentence of ``text`` with at least MIN_WORDS words (else the first sentence), with its span
    shifted by ``offset``."""
    spans = list(sentence_spans(text))
    for start, end in spans:
        if len(text[start:end].split()) >= MIN_WORDS:
            return text[start:end], start + offset, end + offset
    start, end = spans[0] if spans else (0, len(text))
    return text[start:end], start + offset, end + offset


def events_of(store: Store, article_ids: Sequence[str]) -> list[Event]:
    """One cited lead sentence per article (in ``article_ids`` order; articles without chunks are skipped)."""
    found = store.first_chunks(article_ids)
    events = []
    for article_id in article_ids:
        if article_id not in found:
            continue
        text, meta = found[article_id]
        sentence, start, end = lead(text, int(meta.get("start", 0)))
        published = str(meta.get("published") or "")
        events.append(Event(date.fromisoformat(published) if published else None, sentence, str(meta.get("title", "")),
                            str(meta.get("outlet", "")), str(meta.get("url", "")), article_id, start, end))
    return events


def timeline(store: Store, table: StoryTable, story: str, since: date | None = None,
             until: date | None = None) -> list[Event]:
    """The story's articles oldest first (undated last), one cited lead sentence each; with ``since``/``until``
    (days, both included) only the articles published within them, as the exact filters of ``ask`` do."""
    events = events_of(store, sorted(table.members.get(story, ())))
    if since or until:
        events = [e for e in events if e.published is not None and (since is None or e.published >= since)
                  and (until is None or e.published <= until)]
    return sorted(events, key=lambda e: (e.published is None, e.published or date.min, e.article_id))


def figures_of(store: Store, events: Sequence[Event], limit: int = FIGURES,
               rules: Sequence[str] = RULES) -> list[Figure]:
    """The figures that change over the articles of ``events`` (their whole texts; see :mod:`rag.figures`),
    checked by ``rules``."""
    found = store.article_chunks([e.article_id for e in events])
    docs = [Doc(e.article_id, e.published, e.title, e.outlet, e.url,
                tuple((text, int(meta.get("start", 0))) for text, meta in found.get(e.article_id, ())))
            for e in events]
    return track(docs, limit, rules)


@dataclass(frozen=True)
class StoryTimeline:
    """A story's timeline: its events oldest first (undated last) and its figures that change over time."""

    story: str
    events: tuple[Event, ...]
    figures: tuple[Figure, ...]


def story_timeline(store: Store, table: StoryTable, query: str, since: date | None = None,
                   until: date | None = None,
                   embed: Callable[[Sequence[str]], np.ndarray] | None = None) -> StoryTimeline | None:
    """The timeline of the story ``query`` names (:func:`find_story`), within ``since``/``until`` (days, both
    included); None when no story matches. With ``embed`` (normalised sentence vectors), one event reported by
    several outlets the same day is one line (:func:`one_line_per_report`); the figures read every article."""
    story = find_story(table, query)
    if story is None:
        return None
    events = timeline(store, table, story, since, until)
    lines = one_line_per_report(events, embed) if embed is not None else events
    return StoryTimeline(story, tuple(lines), tuple(figures_of(store, events)))


@dataclass(frozen=True)
class DigestItem:
    """One story of a digest: who covered it in the window, its newest day, and its newest leads (cited)."""

    story: str
    outlets: tuple[str, ...]  # the distinct outlets of its articles in the window (exact copies are one article)
    newest: date
    articles: int  # its articles in the window
    leads: tuple[Event, ...]  # the lead sentences of its newest articles, newest first


def corpus_today(table: StoryTable, now: date) -> date | None:
    """The corpus's "today" from the story table's article days, as questions resolve it (:func:`rag.lexical.
    robust_today`), without loading the lexical index."""
    from rag.lexical import robust_today

    return robust_today(np.sort(table.days[table.alive & (table.days > 0)]), now)


def digest_window(table: StoryTable, since: date | None, until: date | None, now: date) -> tuple[date, date]:
    """A digest's days: ``until`` defaults to the corpus's today (never after ``now``; ``now`` for an empty
    index), ``since`` to DIGEST_DAYS before ``until``."""
    until = until or corpus_today(table, now) or now
    return since or until - timedelta(days=DIGEST_DAYS), until


def digest(store: Store, table: StoryTable, since: date, until: date, limit: int = DIGEST_STORIES,
           leads: int = DIGEST_LEADS) -> list[DigestItem]:
    """The top stories with articles published from ``since`` to ``until`` (both included): ranked by how many
    outlets covered them there, then by their newest day, then by their number of articles."""
    first, last = since.toordinal(), until.toordinal()
    window = sorted(a for a, row in table.row.items()
                    if table.alive[row] and first <= int(table.days[row]) <= last)
    by_story: dict[str, list[Event]] = {}
    for event in events_of(store, window):
        if (story := table.story_of(event.article_id)) is not None:
            by_story.setdefault(story, []).append(event)
    items = []
    for story, events in by_story.items():
        newest_first = sorted(events, key=lambda e: (e.published or date.min, e.article_id), reverse=True)
        items.append(DigestItem(story, tuple(sorted({e.outlet for e in events if e.outlet})),
                                newest_first[0].published or since, len(events), tuple(newest_first[:leads])))
    items.sort(key=lambda i: (len(i.outlets), i.newest, i.articles, i.story), reverse=True)
    return items[:limit]


def _cited(e: Event | FigureValue) -> str:
    """An event's or a figure's source in Markdown: title (a link when there is a URL), outlet."""
    title = e.title or "Untitled"
    return ", ".join([f"[{title}]({e.url})" if e.url else title, *e.outlets])


def digest_markdown(items: Sequence[DigestItem], since: date, until: date) -> str:
    """A digest as Markdown: a heading per story with its outlets, articles, newest day and the command for its
    timeline, then its cited leads."""
    lines = [f"# What's new from {since} to {until}: {len(items)} {'story' if len(items) == 1 else 'stories'}"]
    for n, item in enumerate(items, 1):
        lines += ["", f"## {n}. {item.leads[0].title or 'Untitled'}", "",
                  f"{len(item.outlets)} outlet(s) ({', '.join(item.outlets) or 'unknown'}) · {item.articles} "
                  f"article(s) · newest {item.newest} · timeline: `newsrag timeline {item.story}`", ""]
        lines += [f"- {e.published or 'date unknown'}: “{e.sentence}” ({_cited(e)})" for e in item.leads]
    return "\n".join(lines) + "\n"


def timeline_markdown(found: StoryTimeline) -> str:
    """A timeline as Markdown: its events oldest first, each with its cited sentence, then its figures."""
    lines = [f"# Timeline of {found.story}: {len(found.events)} article(s)", ""]
    lines += [f"- {e.published or 'date unknown'}: “{e.sentence}” ({_cited(e)})" for e in found.events]
    if found.figures:
        lines += ["", "## Figures over time"]
    for figure in found.figures:
        lines += ["", f"### {figure.key}", ""]
        lines += [f"- {v.published}: **{v.text}**: “{v.sentence}” ({_cited(v)})" for v in figure.values]
    return "\n".join(lines) + "\n"
