"""The model-free answerer: answer first, then the sentences that support it, all verbatim.

1. The question is classified by what it asks for (:func:`question_kind`): a number
   ("how many", "how much"), a date ("when", "what year"), a person ("who"), a place
   ("where"), a name ("which team"), or something longer (what, why, yes/no).
2. Every whole sentence of the passages (the context plus the next-best candidates) is scored
   by embedding similarity to the question plus the share of the question's content words it
   holds (stemmed: "commanding" answers "command"; weighed by their rarity in the corpus),
   times its passage's retrieval score relative to the best passage's (retrieval has weighed
   dates, recency and both rankings; measured: cited gold 0.66 -> 0.76 on realtimeqa-dev
   against a prior by rank position). A sentence holding a span of the asked-for
   kind that the question does not already contain scores higher.
3. The best sentence opens the answer; up to ``[answer] max_sentences`` more that score
   at least half as well and do not repeat it follow (measured against 0.85 of the best: accuracy
   0.427 -> 0.455 and gold article cited 0.791 -> 0.818 on realtimeqa-dev, 0.470 -> 0.494 and
   0.677 -> 0.706 on realtimeqa-2023h1; citation precision 1.00 on both; 2.2 sentences an answer).
   The best-ranked passage always has its say: when no
   chosen sentence comes from it, its best sentence takes the last place (measured: gold article
   cited 0.755 -> 0.791 on realtimeqa-dev, 0.650 -> 0.679 on realtimeqa-2023h1). The shortest span of the asked-for kind in
   the best sentence, nearest the question's words, becomes the answer's *lead*: shown
   first, in bold. Fragments that start mid-sentence are never chosen.

A question about change over time ("How has the strike developed since Monday?", "What has happened with
the merger?", "timeline of the talks": :func:`asks_for_timeline`) gets a timeline-shaped answer instead
(:func:`chronicle`): the best sentence of each of up to :data:`TIMELINE_EVENTS` articles, scored as above,
in the order the articles were published (undated ones last), each cited; the answer's ``shape`` is
``"timeline"``, and the edges show each line with its article's date.

Everything is a verbatim substring of a passage and goes through the same citation
verifier as LLM text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.citations import EmbedFn
from rag.answer.evidence import found, named_terms, normalize
from rag.answer.injection import instructs
from rag.config import AnswerSettings
from rag.dates import MONTHS, WEEKDAYS
from rag.lexical import tokens
from rag.schema import Hit
from rag.text import sentence_spans, terms

SIMILARITY_WEIGHT = 0.6  # the rest is word overlap with the question
KIND_BONUS = 0.25  # a sentence holding a span of the asked-for kind scores this share higher
KEEP_RATIO = 0.5  # further sentences must score at least this share of the best one (0.85 before: measured below)
MIN_WORDS = 5  # shorter fragments (datelines, captions) are not answers
TIMELINE_EVENTS = 6  # most articles (one sentence each) in a timeline-shaped answer

_NUMBER_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
                r"sixty|seventy|eighty|ninety|hundred|dozens?|hundreds|thousands|millions|billions|half|a half|a quarter|"
                r"third|thirds|quarter|quarters|first|second|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:st|nd|rd|th))")
_SCALE = r"(?:hundred|thousand|million|billion|trillion|percent|per cent|%|bn|m|k)"
_NUMBER = re.compile(
    r"(?:(?:more than|less than|fewer than|about|nearly|almost|over|under|at least|up to|around|approximately|"
    r"roughly|some|only|just)\s+)?"
    rf"(?:[$£€¥]\s?)?(?:\d+(?:,\d{{3}})*(?:\.\d+)?|{_NUMBER_WORD}(?:[\s-](?:and\s)?{_NUMBER_WORD})*\b)"
    rf"(?:[\s-]?{_SCALE}\b|%)*", re.IGNORECASE)
#: "the first festival": an order, not a count ("a third" is a share; "its fourth month", "a second time" count)
_ORDINAL = re.compile(r"first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth", re.IGNORECASE)
_COUNTED = re.compile(r"[\s-]+(?:straight\s+|consecutive\s+|full\s+)?(?:times?|days?|weeks?|months?|years?|seasons?|terms?|"
                      r"rounds?|decades?|centur(?:y|ies)|generations?)\b", re.IGNORECASE)
#: "in 2023", "late 2023", "since 1953": a year where a count is asked is a date, not a quantity
_YEAR_AS_DATE = re.compile(r"\b(?:in|since|by|until|late|early|mid-?|of|from|before|after|during|through)\s+"
                           r"(?:19|20)\d\d\s*$", re.IGNORECASE)
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|(?:early\s+|late\s+|mid-?)?{_MONTH}\s+\d{{4}}|(?:in\s+)?(?:19|20)\d{{2}}|(?:last|this|next)\s+(?:week|month|year)"
    r"|(?:on\s+)?(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|yesterday|today|tomorrow)\b")
_NAME = re.compile(r"\b[A-Z][\w’'.&-]*(?:\s+(?:(?:de|of|the|von|van|der|la|le|du|del|da|al|bin|and|&)\s+)*[A-Z][\w’'.&-]*)*")
_NAME_STOP = frozenset(
    """The A An In On At But And He She It They We I His Her Their This That These Those There When While After Before If
    As So Mr Mrs Ms Dr Sen Rep Gov Gen Lt Maj Col Retired Whether However Although Though Despite Meanwhile According Since
    Because Still Yet Also Even Then Now Here What Who Which Where Why How Last Next Earlier Later Many Some Several Both All
    Most Other Another One Two Three For From With Without By Of To Its Our Your My Not No Yes Such Former Chief President
    Secretary Minister Senator Spokesperson Officials Official""".split()  # noqa: SIM905
)
_ORG_WORD = re.compile(r"\b(Institute|University|College|Department|Ministry|Agency|Council|Committee|Center|Centre|"
                       r"Group|Bank|Company|Corp|Corporation|Inc|Ltd|Times|News|Post|Journal|Network|Foundation|"
                       r"Association|Organization|Organisation|Office|Party|Army|Navy|Force|Commission|Court|School|"
                       r"Hospital|Club|Team|Service|Administration|Bureau|Board|Fund|Trust|Union)\b")
_PLACE_BEFORE = re.compile(r"\b(in|at|to|from|near|into|across|outside|inside)\s+(the\s+)?$", re.IGNORECASE)

Kind = str  # "number" | "date" | "person" | "place" | "name" | "employer" | "other"


_PERSON = (r"(leader|president|minister|politician|official|person|man|woman|player|athlete|actor|actress|singer|"
           r"rapper|artist|author|writer|director|ceo|executive|founder|chef|scientist|judge|senator|governor|mayor|king|"
           r"queen|prince|princess|pope|star|celebrity|driver|golfer|footballer|coach|manager|journalist|candidate|"
           r"lawmaker|billionaire|activist|rider|jockey)")
_NAMED = (r"(team|company|firm|group|organi[sz]ation|party|agency|outlet|newspaper|network|university|institute|club|"
          r"brand|band|film|movie|show|book|app|website|airline|bank|broadcaster|carmaker|retailer|magazine|charity|"
          r"union|manufacturer|supermarket|platform|game|song|album|series)")
#: A place noun followed by the noun that heads the phrase only qualifies it: "which Russian state media outlet"
#: asks for an outlet, "which state officials" for people.
_QUALIFIES = rf"(?!\s+(?:\w+\s+)?(?:{_PERSON}|{_NAMED})s?\b)"


def question_kind(question: str) -> Kind:
    """What kind of answer the question asks for."""
    q = " " + question.lower().replace("’", "'") + " "
    if re.search(r"\bhow (many|much|long|old|far|big|large|often|tall|high|fast)\b|\bwhat (percentage|share|number|"
                 r"amount|proportion|fraction|price|cost)\b|\bby how\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (year|date|day|month|time)\b|\bwhich (year|date|day|month)\b|\bhow soon\b", q):
        return "date"
    if re.search(rf"\bwho(m|se)?\b|\b(which|what) (\w+ ){{0,2}}{_PERSON}s?\b", q):
        return "person"
    if re.search(r"\bwhere (does|did|do|is|was|has) .*\b(work|works|worked|employ|teach|study|serve|job)\b|"
                 r"\bwho (does|did|do) .*\bwork for\b|\bwhat is .*'s (job|role|position|employer|title)\b", q):
        return "employer"
    if re.search(r"\bwhere\b|\b(which|what) (\w+ ){0,2}(country|countries|city|cities|state|region|town|village|port|"
                 r"place|province|island|continent|capital|constituency|county|district|neighbou?rhood|venue|stadium|"
                 r"airport|river|lake|mountain|sea|ocean|border|nation)\b" + _QUALIFIES, q):
        return "place"
    if re.search(rf"\b(which|what) (\w+ ){{0,2}}{_NAMED}\b", q):
        return "name"
    if re.search(r"\bwhich\b", q):  # "which musician", "which pest": a choice among named things
        return "name"
    return "other"


_CALENDAR = frozenset(MONTHS) | frozenset(WEEKDAYS)  # capitalised, but never a person, place or name


def spans_of(kind: Kind, sentence: str, question: str) -> list[tuple[int, int]]:
    """Spans of ``sentence`` that could answer a question of ``kind`` and that the question does not already hold."""
    if kind == "number":
        found = [m.span() for m in _NUMBER.finditer(sentence) if re.search(r"\d|[a-z]{3}", m.group(0), re.I)
                 and m.group(0).strip() and not _YEAR_AS_DATE.search(sentence, 0, m.end())
                 and (not _ORDINAL.fullmatch(m.group(0).strip()) or _COUNTED.match(sentence, m.end())
                      or re.search(r"\ban?\s+$", sentence[:m.start()], re.IGNORECASE))]
    elif kind == "date":
        found = [m.span() for m in _DATE.finditer(sentence)]
    elif kind in ("person", "place", "name", "employer"):
        found = []
        for m in _NAME.finditer(sentence):
            tokens = list(re.finditer(r"\S+", m.group(0)))
            while tokens and tokens[0].group(0).rstrip(".") in _NAME_STOP:  # "In Berlin" -> "Berlin"
                tokens.pop(0)
            if tokens and not all(t.group(0).strip(" ,.;:").lower() in _CALENDAR for t in tokens):  # "in June"
                found.append((m.start() + tokens[0].start(), m.end()))
    else:
        return []
    asked = {w.lower() for w in re.findall(r"[\w’'-]+", question)}
    out = []
    for start, end in found:
        text = sentence[start:end].strip(" ,.;:")
        words = re.findall(r"[\w’'-]+", text.lower())
        if words and not all(w in asked for w in words) and text:
            offset = sentence.find(text, start)
            out.append((offset, offset + len(text)))
    return out


@dataclass(frozen=True)
class Candidate:
    hit_index: int
    start: int
    text: str
    score: float
    spans: tuple[tuple[int, int], ...] = ()  # spans of the asked-for kind, in ``text``


@dataclass(frozen=True)
class Extraction:
    text: str  # the answer with [n] markers (n = 1-based position in the hits); "" when nothing fits
    lead: str = ""  # the shortest span that answers, verbatim from the first sentence
    lead_hit: int = 0  # which hit ``lead`` comes from (0-based)


def _unit(token: str) -> float:
    return 1.0


def candidates(question: str, hits: Sequence[Hit], embed: EmbedFn, weight: Callable[[str], float] = _unit,
               prior: bool = True) -> tuple[list[Candidate], np.ndarray]:
    """Every whole sentence of the passages, scored against the question; with their embeddings.
    ``weight`` weighs a question word (stemmed) by its rarity in the corpus; with ``prior``, a sentence's score
    is also weighed by its passage's retrieval score (which holds the recency prior) relative to the best."""
    pieces: list[tuple[int, int, str]] = []
    for i, hit in enumerate(hits):
        text = hit.passage.text
        for start, end in sentence_spans(text):
            sentence = text[start:end].strip()
            if (len(sentence.split()) >= MIN_WORDS and not sentence.rstrip("”\"’' ").endswith("?")  # a question answers nothing
                    and not sentence[:1].islower()  # a fragment cut mid-sentence
                    and not instructs(sentence)):  # "Ignore previous instructions and ..." is not news
                pieces.append((i, start, sentence))
    if not pieces:
        return [], np.zeros((0, 1), dtype=np.float32)
    vectors = embed([p[2] for p in pieces])
    query = embed([question])[0]
    similarity = vectors @ query
    top = max(h.score for h in hits)
    q_weights = {t: weight(t) for t in dict.fromkeys(tokens(question, parts=True))}
    total = sum(q_weights.values())
    kind = question_kind(question)
    scored = []
    for (i, start, sentence), sim in zip(pieces, similarity):
        held = set(tokens(sentence, parts=True))
        overlap = sum(w for t, w in q_weights.items() if t in held) / total if total else 0.0
        relevance = SIMILARITY_WEIGHT * float(sim) + (1 - SIMILARITY_WEIGHT) * overlap
        spans = tuple(spans_of(kind, sentence, question))
        bonus = 1 + KIND_BONUS if spans else 1.0
        share = max(hits[i].score, 0.0) / top if prior and top > 0 else 1.0
        scored.append(Candidate(i, start, sentence, relevance * bonus * share, spans))
    return scored, vectors


def _preference(kind: Kind, text: str, start: int, end: int) -> int:
    """0 for a span that looks most like the asked-for kind, 1 otherwise."""
    before = text[max(0, start - 12):start]
    span = text[start:end]
    if kind == "employer":
        return 0 if _ORG_WORD.search(span) or re.search(r"\b(at|for|of)\s+(the\s+)?$", before) else 1
    if kind == "place":
        return 0 if _PLACE_BEFORE.search(before) else 1
    if kind == "person":
        return 0 if len(span.split()) >= 2 and not _ORG_WORD.search(span) else 1
    return 0


def lead_span(candidate: Candidate, question: str) -> str:
    """The span of the asked-for kind that looks most like one and sits nearest the question's words
    (summed distance to each question word the sentence holds); shortest on ties."""
    if not candidate.spans:
        return ""
    kind = question_kind(question)
    q_terms = set(terms(question))
    text = candidate.text
    places: dict[str, list[int]] = {}
    for m in re.finditer(r"[\w’'-]+", text):
        for term in set(terms(m.group(0))) & q_terms:
            places.setdefault(term, []).append(m.start())

    def rank(span: tuple[int, int]) -> tuple[int, float, int]:
        start, end = span
        near = sum(min(start - p if p < start else max(0, p - end) for p in spots) for spots in places.values())
        return (_preference(kind, text, start, end), near, end - start)

    start, end = min(candidate.spans, key=rank)
    if kind == "number":  # "seven million" + "rounds" when the question counts rounds
        follow = re.match(r"\s+([\w’'-]+)", text[end:])
        if follow and set(terms(follow.group(1))) & q_terms:
            end += follow.end()
    return text[start:end]


def _choose(scored: Sequence[Candidate], vectors: np.ndarray, limit: int, redundancy: float,
            one_per: Callable[[Candidate], str] | None = None) -> list[int]:
    """The best sentences, best first: up to ``limit`` of those scoring at least :data:`KEEP_RATIO` of the best,
    each less than ``redundancy`` similar to those already chosen, and with ``one_per``, one per value of it."""
    order = sorted(range(len(scored)), key=lambda k: -scored[k].score)
    chosen: list[int] = []
    taken: set[str] = set()
    for k in order:
        if len(chosen) >= limit or scored[k].score < KEEP_RATIO * scored[order[0]].score:
            break
        key = one_per(scored[k]) if one_per else ""
        if key in taken or any(float(vectors[k] @ vectors[j]) >= redundancy for j in chosen):
            continue
        chosen.append(k)
        if one_per:
            taken.add(key)
    return chosen


def extract(question: str, hits: Sequence[Hit], embed: EmbedFn, settings: AnswerSettings,
            weight: Callable[[str], float] = _unit) -> Extraction:
    """The extractive answer to ``question`` from ``hits``."""
    scored, vectors = candidates(question, hits, embed, weight)
    if not scored:
        return Extraction("")
    order = sorted(range(len(scored)), key=lambda k: -scored[k].score)
    chosen = _choose(scored, vectors, settings.max_sentences, settings.redundancy)
    if all(scored[k].hit_index != 0 for k in chosen):  # the best passage always has its say
        top = [k for k in order if scored[k].hit_index == 0]
        if top and not any(float(vectors[top[0]] @ vectors[j]) >= settings.redundancy for j in chosen):
            chosen = [*chosen[: settings.max_sentences - 1], top[0]]
    first = scored[chosen[0]]
    text = " ".join(f"{scored[k].text} [{scored[k].hit_index + 1}]" for k in chosen)
    return Extraction(text, lead_span(first, question), first.hit_index)


_CHANGE_VERB = (r"(?:changed?|changing|evolved?|evolving|developed|unfolded|progressed|shifted|moved|grown|risen|rose|fallen|"
                r"fell|escalated|worsened|improved|gone|going|played out|turned out)")
_TIMELINE = re.compile(
    rf"\bhow\s+(?:has|have|did|is|are|was|were)\b.{{1,120}}?\b{_CHANGE_VERB}\b"  # how has the strike developed
    rf"|\bwhat(?:'s|’s|\s+has|\s+have)?\s+(?:changed|happened|been\s+happening)\b.{{0,120}}?\b(?:since|so\s+far|over|during)\b"
    rf"|\bwhat\s+(?:has|have)\s+happened\s+(?:to|with|in)\b"  # what has happened with the merger
    rf"|\b(?:timeline|chronology|sequence\s+of\s+events)\b"
    rf"|\b(?:latest|recent)\s+(?:developments|twists|updates)\b"
    rf"|\bwalk\s+me\s+through\b|\bstep\s+by\s+step\b.{{0,40}}\bhappened\b",
    re.IGNORECASE)


#: The words that ask for a timeline rather than name its subject ("give me a timeline of", "how has ... developed")
_FRAMING = re.compile(
    rf"^\s*(?:please\s+)?(?:give\s+me|show\s+me|walk\s+me\s+through|tell\s+me|what\s+is|what's)?\s*(?:an?\s+|the\s+)?"
    rf"(?:timeline|chronology|sequence\s+of\s+events|latest\s+developments|recent\s+developments)\s+(?:of|in|on|for)\s+"
    rf"|\bhow\s+(?:has|have|did|is|are|was|were)\s+"
    rf"|\b{_CHANGE_VERB}\s*(?=\?|$|\s+(?:since|so\s+far|over|during)\b)"
    rf"|^\s*what(?:'s|’s|\s+has|\s+have)?\s+(?:changed|happened|been\s+happening)\s+(?:to|with|in)?\s*"
    rf"|^\s*what\s+(?:are|were)\s+the\s+(?:latest|recent)\s+(?:developments|twists|updates)\s+(?:in|on|with)\s+",
    re.IGNORECASE)


def asks_for_timeline(question: str) -> bool:
    """Whether ``question`` asks how something changed over time rather than for one fact."""
    return bool(_TIMELINE.search(question))


def timeline_topic(question: str) -> str:
    """``question`` without the words that ask for a timeline: what the timeline is about, and what to search for
    ("Give me a timeline of the Wagner mutiny" -> "the Wagner mutiny"; "since ..." stays, as a date)."""
    topic = " ".join(_FRAMING.sub(" ", question).split()).strip(" ?")
    return topic or question


def chronicle(topic: str, hits: Sequence[Hit], embed: EmbedFn, settings: AnswerSettings,
              weight: Callable[[str], float] = _unit) -> Extraction:
    """A timeline-shaped answer about ``topic`` (:func:`timeline_topic`): each article's best sentence that scores
    at least :data:`KEEP_RATIO` of the best one and does not repeat a sentence already chosen, up to
    :data:`TIMELINE_EVENTS` articles, in publication order (undated last; an article's position among the hits
    breaks ties). Sentences are scored on their own words, without their passage's retrieval score: that holds
    the recency prior, and a timeline needs the story's beginning as much as its latest turn."""
    scored, vectors = candidates(topic, hits, embed, weight, prior=False)
    names = named_terms(topic)
    if names:  # events about the subject by name: "Wagner" for the Wagner mutiny, not any mutiny
        about = [normalize(f"{h.passage.title} {h.passage.text}") for h in hits]
        naming = [k for k, c in enumerate(scored) if all(found(t, [about[c.hit_index]]) for t in names)]
        if len({hits[scored[k].hit_index].passage.article_id for k in naming}) >= 2:
            scored, vectors = [scored[k] for k in naming], vectors[naming]
    chosen = _choose(scored, vectors, TIMELINE_EVENTS, settings.redundancy,
                     lambda c: hits[c.hit_index].passage.article_id)

    def when(k: int) -> tuple[int, int, int]:
        published = hits[scored[k].hit_index].passage.published
        return (published is None, published.toordinal() if published else 0, scored[k].hit_index)

    return Extraction(" ".join(f"{scored[k].text} [{scored[k].hit_index + 1}]" for k in sorted(chosen, key=when)))
