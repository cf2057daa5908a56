"""Shared text primitives: sentence boundaries, sentence spans and word terms.

Chunking (ingest) and the answerers (rag) split sentences the same way, so a
citation's sentence span always lines up with the passage it came from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

_ABBREVIATIONS = (
    "Mr", "Mrs", "Ms", "Dr", "Sen", "Rep", "Gov", "Gen", "Lt", "Col", "Sgt", "St", "Jr", "Sr", "Prof",
    "Capt", "Maj", "Adm", "Rev", "No", "vs", "etc", "Inc", "Corp", "Co", "Ltd", "Jan", "Feb", "Aug",
    "Sept", "Sep", "Oct", "Nov", "Dec", "approx", "Ft", "Mt",
)
_NOT_AFTER = "".join(rf"(?<!\b{re.escape(a)}\.)" for a in _ABBREVIATIONS) + r"(?<!\b[A-Z]\.)"

#: Zero-width-before-whitespace boundary after ., ! or ? (optionally followed by a closing quote),
#: not after a common abbreviation or an initial; or a blank line.
SENTENCE_BOUNDARY = rf"\n\s*\n|(?:(?<=[.!?]){_NOT_AFTER}|(?<=[.!?][\"”’']))\s+"
_BOUNDARY_RE = re.compile(SENTENCE_BOUNDARY)

_WORD_RE = re.compile(r"[^\W_][\w'’\-]*")  # letters of any script and digits, then also ' ’ - _

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves said says say also according new one two like get got may
    might must shall us""".split()  # noqa: SIM905
)


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence in ``text``, whitespace trimmed."""
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        if match.start() > start:
            yield start, match.start()
        start = match.end()
    end = len(text.rstrip())
    if end > start:
        yield start, end


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def fold(text: str) -> str:
    """``text`` without accents ("Família" -> "Familia", "Niinistö" -> "Niinisto"): a name is matched however
    it was typed. Letters that do not decompose ("ø", "ß") stay as they are."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def terms(text: str, parts: bool = False) -> list[str]:
    """Lower-cased content words (no stopwords, accents folded), with possessive 's removed; with ``parts``, a
    hyphenated word also gives its parts."""
    out = []
    for word in _WORD_RE.findall(fold(text).lower()):
        word = word.replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        word = word.strip("'-")
        if word and word not in STOPWORDS:
            out.append(word)
            if parts and "-" in word:  # "state-run" also matches "state", "Kim-Putin" "Kim" and "Putin"
                out += [part for part in word.split("-") if part and part not in STOPWORDS]
    return out
