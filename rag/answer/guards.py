"""Guards against the failure modes of small local models, applied to the raw reply before citations are parsed.

:func:`clean_model_text` guarantees, for any input string:

* no ``<source ...>`` / ``</source>`` tag and no leaked fence attribute run (``id="1" title="..."
  outlet="..." date="...">``) is left, and a line that held only markup is gone;
* no ``Source 1:``, ``Source [2]:``, ``Passage 3 -`` or ``Answer:`` label starts the reply or a line;
* no sentence equals or is contained in an earlier one once lower-cased with markers and punctuation
  removed: the first occurrence is kept and gains the markers only the dropped copies had;
* no phrase of six or more words runs three or more times in a row inside a sentence: one occurrence
  is kept, with the markers of the copies;
* every marker of a kept sentence survives as written; text needing none of this comes back unchanged
  apart from spaces (runs inside a line, trailing ones) and blank lines beyond one;
* the result is stripped: an empty or all-junk reply gives ``""``.

:func:`mostly_unsupported` says whether a verified answer is too weak to show as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answer.citations import normalize_markers
from rag.text import sentence_spans

_CUT = "\x00"  # stands where markup was removed, so only those places get their spacing mended
_QUOTED = r'(?:"[^"\n]*"|“[^”\n]*”)'
_MARKUP = (
    re.compile(r"</?\s*source\b[^<>\n]*>", re.IGNORECASE),  # a whole tag
    re.compile(rf"(?:(?:\b(?:id|url)|title|outlet|date)\s*=\s*{_QUOTED}\s*)+/?>?", re.IGNORECASE),  # attribute runs
    re.compile(r"</?\s*source\b\s*/?>?", re.IGNORECASE),  # what is left of a tag cut off mid-way
)
_PREFIX = re.compile(  # one or more labels, as in "Answer: Source [2]: ..."
    r"^[ \t]*(?:(?:\*\*)?(?:(?:sources?|passages?|documents?)\s*(?:\[\s*\d+\s*\]|#?\d+)|answer)(?:\*\*)?"
    r"[ \t]*(?::|[-–—](?=\s))(?:\*\*)?[ \t]*)+",
    re.IGNORECASE | re.MULTILINE,
)
_BRACKETED = r"\[[^\[\]\n]{0,40}\]|【[^】\n]{0,20}】"
_LEADING_MARKERS = re.compile(rf"(?:(?:{_BRACKETED})\s*)+")
_TRAILING_MARKER = re.compile(rf"(?:{_BRACKETED}|\([^()\n]{{0,30}}\))$")
_WORD = re.compile(rf"{_BRACKETED}|(\w+(?:['’]\w+)*)")  # words outside markers
_STOP = re.compile(r"(.*?)([.!?][\"”’']?)?", re.DOTALL)
_CANONICAL = re.compile(r"\[(\d+)\]")
_MIN_PHRASE, _MIN_RUNS = 6, 3


def _numbers(text: str) -> list[int]:
    return [int(n) for n in _CANONICAL.findall(normalize_markers(text))]


def _markers(numbers: Sequence[int], present: str) -> str:
    return "".join(f"[{n}]" for n in dict.fromkeys(numbers) if n not in _numbers(present))


def _norm(text: str) -> str:
    text = _CANONICAL.sub(" ", normalize_markers(text)).lower()
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def _add_markers(sentence: str, numbers: Sequence[int]) -> str:
    """``sentence`` with the markers it lacks, after its last marker or else before its full stop."""
    missing = _markers(numbers, sentence)
    if not missing:
        return sentence
    tail = _TRAILING_MARKER.search(sentence)
    if tail and _numbers(tail[0]):
        return sentence + missing
    head, stop = _STOP.fullmatch(sentence).groups()  # type: ignore[union-attr]  # always matches
    return f"{head}{'' if head.endswith(']') else ' '}{missing}{stop or ''}"


def _cut_loops(sentence: str) -> str:
    """One occurrence of each phrase of >= 6 words repeated >= 3 times in a row; the copies' markers kept."""
    words = [(m.start(1), m.end(1), m[1].lower()) for m in _WORD.finditer(sentence) if m[1]]
    keys = [w[2] for w in words]
    cuts: list[tuple[int, int]] = []
    i = 0
    while i + _MIN_PHRASE * _MIN_RUNS <= len(words):
        for size in range(_MIN_PHRASE, (len(words) - i) // _MIN_RUNS + 1):
            if keys[i] != keys[i + size]:
                continue
            runs = 1
            while keys[i : i + size] == keys[i + runs * size : i + (runs + 1) * size]:
                runs += 1
            if runs >= _MIN_RUNS:
                cuts.append((words[i + size - 1][1], words[i + runs * size - 1][1]))
                i += runs * size
                break
        else:
            i += 1
    for start, end in reversed(cuts):
        head, rest = sentence[:start], sentence[end:]
        missing = _markers(_numbers(sentence[start:end]), head + rest)
        sentence = head + (f" {missing}" if missing else "") + rest
    return sentence


def _units(text: str) -> list[tuple[int, int]]:
    """Sentence spans, with markers that open a sentence given back to the sentence before them."""
    spans = [list(s) for s in sentence_spans(text)]
    for k in range(1, len(spans)):
        lead = _LEADING_MARKERS.match(text, spans[k][0], spans[k][1])
        if lead and _numbers(lead[0]):
            spans[k - 1][1] = spans[k][0] + len(lead[0].rstrip())
            spans[k][0] = lead.end()
    return [(s, e) for s, e in spans if e > s]


def _dedupe(text: str) -> str:
    kept: list[list[str]] = []  # [separator before it, sentence, normalised sentence]
    previous_end = 0
    for start, end in _units(text):
        separator, sentence = text[previous_end:start], _cut_loops(text[start:end])
        previous_end = end
        norm = _norm(sentence)
        earlier = next((k for k in kept if norm and f" {norm} " in f" {k[2]} "), None)
        if earlier is None:
            kept.append([separator if kept else "", sentence, norm])
        else:
            earlier[1] = _add_markers(earlier[1], _numbers(sentence))
    return "".join(separator + sentence for separator, sentence, _ in kept)


def _strip_markup(text: str) -> str:
    text = text.replace(_CUT, "")
    for pattern in _MARKUP:
        text = pattern.sub(_CUT, text)
    cut = rf"[ \t]*{_CUT}[{_CUT} \t]*"
    text = re.sub(rf"^{cut}(?:\n|$)", "", text, flags=re.MULTILINE)  # a line that held only markup
    text = re.sub(rf"^{cut}|{cut}$|{cut}(?=[.,;:!?])", "", text, flags=re.MULTILINE)
    return re.sub(cut, " ", text)


def clean_model_text(text: str) -> str:
    """The reply without leaked source markup, label prefixes, repeated sentences or phrase loops."""
    text = _PREFIX.sub("", _strip_markup(text))
    text = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
    text = _dedupe(re.sub(r"\n{3,}", "\n\n", text.strip()))
    return re.sub(r"(?<=\S)[ \t]{2,}", " ", text).strip()


def mostly_unsupported(verdicts: Sequence[str]) -> bool:
    """True when no sentence makes a claim, or more than half of the claim sentences are "unsupported"."""
    claims = [v for v in verdicts if v != "neutral"]
    return not claims or 2 * claims.count("unsupported") > len(claims)
