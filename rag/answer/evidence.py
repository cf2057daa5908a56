"""Does the corpus hold what the question asks about? Its own words first, then dense similarity.

* **Named terms**: the question's names and unusual terms ("Tour de France", "Xi Jinping",
  "COVID-19", "1998"): capitalised runs (allowing "de", "of", "von", ...), words with a
  capital and a digit, years, and the names inside quoted phrases. Each is looked up in the
  retrieval candidates and in the passages BM25 ranks best for it. A phrase with a connector
  must appear whole; a name may appear with its words apart in one passage, and a person's
  name by a rare last word ("Cantona").
* **Unknown words**: the question's content words the corpus never uses ("tiramisu").
* **Dense similarity** of the best candidate passage to the question.

The rule, in order: refuse when the question is in another language than its best passages
(:mod:`rag.answer.language`); refuse when the named terms found nowhere hold at least a quarter of the
question's content words, or one of them is a person's name, or none of its words occurs in the
corpus at all (a confident answer about another Tour, or another minister, is worse than none); refuse
when a third of its content words are unknown to the corpus (unless its named terms are all
found: "What is Andrew Yeo's job?" where the article says "senior fellow"); refuse when no
passage reaches ``[answer] min_relevance``, unless every named term is found and one of them is a person's
name rare in the corpus (MiniLM embeds "What is Andrew Yeo's job?" far from any passage: similarity 0.16).
Measured on realtimeqa-dev and an off-corpus set (README, Quality).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from rag.answer import language
from rag.config import AnswerSettings
from rag.dates import MONTHS, WEEKDAYS
from rag.schema import Hit, Refusal
from rag.text import STOPWORDS, fold, terms

CONNECTORS = frozenset({"de", "of", "the", "von", "van", "der", "la", "le", "du", "del", "da", "al", "bin", "y"})
MISSING_SHARE = 0.25  # refuse when the named terms found nowhere hold this share of the question's content words
UNKNOWN_SHARE = 1 / 3  # refuse when at least this share of the question's content words occur nowhere in the corpus
RARE_SHARE = 0.002  # a word at most this share of passages (or RARE_COUNT of them) use is rare
RARE_COUNT = 3
QUESTION_WORDS = frozenset({"what", "who", "whom", "whose", "when", "where", "which", "why", "how", "is", "are", "was",
                            "were", "do", "does", "did", "can", "could", "will", "would", "should", "has", "have", "had",
                            "tell", "give", "list", "name", "describe", "explain", "summarize", "summarise", "according",
                            "please", "in", "on", "at", "since", "after", "before", "during", "this", "last", "the",
                            "many", "much"})
_YEAR = re.compile(r"(?:1[89]|20)\d\d")
_TOKEN = re.compile(r"[\"“”]([^\"“”]{3,60})[\"“”]|[A-Za-z0-9][\w'’.&-]*")


def _plain(word: str) -> str:
    word = word.replace("’", "'").rstrip(".,;:!?")
    return word[:-2] if word.lower().endswith("'s") else word


def _is_name(word: str) -> bool:
    """A word that names something: capitalised (not a common function word, month or weekday),
    with a digit and a letter ("COVID-19", "F-16"), or with an inner capital ("iPhone")."""
    low = word.lower()
    if low in STOPWORDS or low in QUESTION_WORDS or low in MONTHS or low in WEEKDAYS:
        return False
    if _YEAR.fullmatch(word):  # a year: "the 1998 World Cup"
        return True
    if re.search(r"\d", word):  # "COVID-19", "F-16", "carbon-14"; not "2023", "10-race" or "600-year-old"
        return bool(re.match(r"[A-Za-z]", word) and re.search(r"[A-Za-z]", word))
    return word[:1].isupper() or bool(re.search(r"[a-z][A-Z]", word))


def _is_date_word(word: str) -> bool:
    """Months, weekdays and years: the date signal weighs them, not the evidence check."""
    return word in MONTHS or word in WEEKDAYS or bool(_YEAR.fullmatch(word))


def _continues(question: str, end: int) -> bool:
    """The word after position ``end`` is capitalised (so the first word starts a name: "Kim Jong Un met ...")."""
    following = re.match(r"\s+([A-Za-z])", question[end:])
    return bool(following and following.group(1).isupper())


def named_terms(question: str) -> list[str]:
    """The names and unusual terms of ``question``, in order (see the module docstring)."""
    out: list[str] = []
    run: list[str] = []

    def close() -> None:
        while run and run[-1].lower() in CONNECTORS:
            run.pop()
        if run:
            out.append(" ".join(run))
        run.clear()

    for match in _TOKEN.finditer(question):
        starts = match.start() == 0 or question[:match.start()].rstrip()[-1:] in ".?!:"
        if starts and not run and not _continues(question, match.end()):
            close()  # a sentence's first word is capitalised anyway: "Besides weapons talks, ..."
            continue
        if match.group(1):  # a quoted phrase: often a paraphrase, so only its names count
            close()
            out += named_terms(match.group(1))
            continue
        word = _plain(match.group(0))
        if word and _is_name(word) or run and word.lower() in CONNECTORS:
            run.append(word)
        else:
            close()
        if match.group(0)[-1:] in ".?!,;:" and not re.fullmatch(r"(?:[A-Z]\.)+", match.group(0)) \
                or re.search(r"['’]s$", match.group(0)):  # "Britain’s Katarina Johnson-Thompson": two names
            close()
    close()
    return list(dict.fromkeys(out))


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces (and at both ends), accents and curly quotes removed."""
    text = fold(text).replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " " + " ".join(re.findall(r"[\w&]+", text.lower())) + " "


def _words(term: str) -> list[str]:
    return normalize(term).split()


def person_like(term: str) -> bool:
    """Two or three capitalised alphabetic words without connectors: "Patrick Cronin", "Sauli Niinistö"."""
    words = term.split()
    return 2 <= len(words) <= 3 and all(w[:1].isupper() and w.isalpha() for w in words)


def found(term: str, passages: Sequence[str], rare: Callable[[str], bool] = lambda w: False,
          known: Callable[[str], bool] = lambda w: True, count: Callable[[str], int] | None = None) -> bool:
    """``term`` occurs in one of the normalised ``passages``: whole; a run of three or more words by two of its
    words in a row, one of them its rarest by ``count`` ("Hundred Years of Solitude" is not found by "hundred
    years", nor "2027 Rugby World Cup" by "world cup"); a name without connectors with all its words in one
    passage ("Cronin ... Patrick"); a person's name by a rare last word ("Cantona"). Never when one of its words
    is ``known`` nowhere in the corpus: "Sistine Chapel" is not found in a passage about a chapel, nor "Milan
    Cortina Winter Olympics" in one about the Winter Olympics. An identifier ("carbon-14") is found whole only."""
    words = _words(term)
    if not words:
        return True
    phrase = f" {' '.join(words)} "
    if not (known(term) or known(" ".join(words))):  # "Boris Johnson-era" is known by "boris johnson era"
        return any(phrase in p for p in passages)
    if re.search(r"[A-Za-z]-\d|\d-[A-Za-z]", term):  # an identifier ("carbon-14", "F-16", "COVID-19"): whole only
        return any(phrase in p for p in passages)
    loose = len(words) > 1 and not any(w in CONNECTORS for w in words)
    if len(words) >= 3:  # "Tory MP Lee Anderson", "Chancellor Jeremy Hunt": a title glued to a name
        rarest = min((w for w in words if w not in CONNECTORS), key=count) if count else None
        pairs = [f" {a} {b} " for a, b in zip(words, words[1:]) if a not in CONNECTORS and b not in CONNECTORS
                 and rarest in (None, a, b)]
        if any(pair in p for p in passages for pair in pairs):
            return True
    surname = f" {words[-1]} " if person_like(term) and rare(words[-1]) else None
    return any(phrase in p or (loose and all(f" {w} " in p for w in words)) or (surname is not None and surname in p)
               for p in passages)


@dataclass(frozen=True)
class Evidence:
    best_dense: float
    terms: tuple[str, ...]  # the question's named terms
    missing: tuple[str, ...]  # of those, the ones found nowhere
    words: tuple[str, ...] = ()  # the question's content words
    unknown: tuple[str, ...] = ()  # of those, the ones the corpus never uses
    specific: bool = False  # a person's name found, and rare in the corpus ("Andrew Yeo"): the question is about them


class Corpus(Protocol):
    """What the evidence check needs from the index (rag.retrieve.Retriever provides it)."""

    def knows(self, word: str) -> bool: ...  # the corpus uses this (content) word somewhere

    def frequency(self, word: str) -> tuple[int, int]: ...  # (passages that use this word, all passages)

    def passages_with(self, text: str) -> list[str]: ...  # the passages that best match ``text`` lexically


def weigh(question: str, candidates: Sequence[Hit], corpus: Corpus) -> Evidence:
    """How well the candidates, and the corpus, cover ``question``."""
    normal = [normalize(f"{h.passage.title} {h.passage.text} {h.passage.published or ''}") for h in candidates]

    def rare(word: str) -> bool:
        used, total = corpus.frequency(word)
        return 0 < used <= max(RARE_COUNT, RARE_SHARE * total)

    named = named_terms(question)
    def count(word: str) -> int:
        return corpus.frequency(word)[0]

    missing = [t for t in named if not found(t, normal, rare, corpus.knows, count)
               and not found(t, [normalize(p) for p in corpus.passages_with(t)], rare, corpus.knows, count)]
    words = [w for w in dict.fromkeys(normalize(" ".join(terms(question))).split())
             if not _is_date_word(w) and w not in QUESTION_WORDS]
    unknown = [w for w in words if not corpus.knows(w)]
    best = max((h.dense for h in candidates), default=0.0)
    specific = any(rare(w) for t in named if t not in missing and person_like(t) for w in _words(t))
    return Evidence(best, tuple(named), tuple(missing), tuple(words), tuple(unknown), specific)


_LONE_YEAR = re.compile(r"(?<![\w-])(?:19|20)\d\d(?![\w-])")


def question_years(question: str, today: date | None) -> tuple[int, ...]:
    """The years the question names on their own ("the 2023 Nobel Prize"; not "COVID-19" or "2023-24") that
    have begun by ``today``. A later year is a plan or a forecast ("the 2030 ban", "obese by 2035"), which
    articles written before it speak of without naming it in every passage."""
    return tuple(sorted({int(y) for y in _LONE_YEAR.findall(question) if today is None or int(y) <= today.year}))


def speaks_of(hit: Hit, years: Sequence[int]) -> bool:
    """Whether ``hit``'s passage can speak of each of ``years``: it names the year, or its article was
    published that year or later, or its date is unknown. A 2022 article on "this year's Nobel Prize"
    cannot say who won the 2023 one."""
    published = hit.passage.published
    if published is None:
        return True
    text = hit.passage.title + " " + hit.passage.text
    return all(published.year >= year or str(year) in text for year in years)


def other_year(years: Sequence[int], candidates: Sequence[Hit]) -> Refusal:
    """The refusal when no candidate can speak of the question's years."""
    newest = max((h.passage.published for h in candidates if h.passage.published), default=None)
    named = " or ".join(str(y) for y in years)
    closest = f" The newest matching article is from {newest.isoformat()}." if newest else ""
    return Refusal("other_year", f"No indexed article on this subject speaks of {named}.{closest}", ())


def refusal(question: str, candidates: Sequence[Hit], settings: AnswerSettings, corpus: Corpus) -> Refusal | None:
    """A Refusal when the candidates do not cover ``question``, else None (see the module docstring)."""
    if not candidates:
        return Refusal("no_passage", "No indexed passage matches the question.")
    evidence = weigh(question, candidates, corpus)
    unknown_share = len(evidence.unknown) / len(evidence.words) if evidence.words else 1.0  # no word we can read
    if other := language.mismatch(question, candidates, unknown_share):
        return other
    words = set(evidence.words)
    lost = {w for t in evidence.missing for w in _words(t)} & words
    unheard = [t for t in evidence.missing  # "2023 Wimbledon": the year is no evidence, the name is unknown
               if len(t) > 3 and (named := [w for w in _words(t) if not _is_date_word(w)])
               and all(w in evidence.unknown for w in named)]
    if evidence.missing and (len(lost) >= MISSING_SHARE * len(words) or unheard
                             or any(person_like(t) for t in evidence.missing)):
        return Refusal("missing_terms", "The indexed articles never mention " +
                       ", ".join(f"“{t}”" for t in evidence.missing) + ".", evidence.missing)
    if evidence.unknown and len(evidence.unknown) >= UNKNOWN_SHARE * len(words) and not (evidence.terms and not lost):
        return Refusal("missing_terms", "The indexed articles never use the words " +
                       ", ".join(f"“{t}”" for t in evidence.unknown) + ".", evidence.unknown)
    if evidence.best_dense < settings.min_relevance and not (evidence.specific and not evidence.missing):
        return Refusal("low_similarity", f"No passage is close to the question (best similarity "
                       f"{evidence.best_dense:.2f} < [answer] min_relevance {settings.min_relevance}).")
    return None
