"""Citations for every answerer: parse markers, verify each sentence, attach, renumber.

1. **Parse**: ``[1]``, ``[1, 3]``, ``[1][3]``, ``[1-3]``, ``[Source 1]``, ``【1】``,
   ``[^1]`` and ``(Source 1)`` become source numbers; a marker naming no source is dropped.
2. **Verify**: each answer sentence is compared with the sentences of the passages
   (embedding similarity of the best sentence, and the share of the sentence's
   content words found in the passage; thresholds in ``[answer]``). A cited
   passage that does not support the sentence loses its marker; a sentence no
   cited passage supports gets the marker of the passage that does (*attached*);
   a sentence nothing supports is *unsupported*. Sentences with fewer than two
   content words make no claim and are left alone (*neutral*). A sentence that reads as an
   instruction to an assistant (:mod:`rag.answer.injection`) is *unsupported*, and never supports.
3. **Renumber** the sources actually cited 1..n in order of first citation, each
   with the character span of its supporting sentence in the article.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.injection import instructs
from rag.config import AnswerSettings
from rag.schema import AnswerSentence, Citation, Hit, Support
from rag.text import sentence_spans, terms

EmbedFn = Callable[[Sequence[str]], np.ndarray]

_NUM_LIST = r"\d+(?:\s*(?:,|;|&|and|-|–)\s*(?:sources?\s*)?\d+)*"
_BRACKET = re.compile(
    rf"\[\s*\^?\s*(?:(?:sources?|src|refs?|passages?|docs?|documents?)\s*#?\s*)?({_NUM_LIST})\s*\]", re.IGNORECASE
)
_LENTICULAR = re.compile(r"【\s*(\d+)(?:[†:][^】]*)?】")
_PAREN = re.compile(rf"\(\s*(?:sources?|see)\s+({_NUM_LIST})\s*\)", re.IGNORECASE)
_CANONICAL = re.compile(r"\[(\d+)\]")
_TRAILING = re.compile(r"([.!?][\"”’']?)((?:\s*\[\d+\])+)")


def _expand(numbers: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|&|\band\b)\s*", numbers, flags=re.IGNORECASE):
        part = re.sub(r"(?i)sources?\s*", "", part).strip()
        if m := re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part):
            a, b = int(m[1]), int(m[2])
            if 0 < b - a < 20:
                out.extend(range(a, b + 1))
                continue
        if part.isdigit():
            out.append(int(part))
    return out


def normalize_markers(text: str) -> str:
    """Every supported marker style rewritten as ``[n]`` (lists and ranges expanded)."""
    text = _LENTICULAR.sub(lambda m: f"[{m[1]}]", text)
    text = _PAREN.sub(lambda m: "".join(f"[{n}]" for n in _expand(m[1])), text)
    return _BRACKET.sub(lambda m: "".join(f"[{n}]" for n in _expand(m[1])), text)


def parse_markers(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (sentence without markers, cited numbers as written) pairs."""
    # "Claim. [1] Next claim." -> "Claim [1]. Next claim.": markers belong to the sentence before them
    text = _TRAILING.sub(lambda m: m[2].strip() + m[1], normalize_markers(text))
    parts: list[tuple[str, list[int]]] = []
    for start, end in sentence_spans(text):
        piece = text[start:end]
        numbers = [int(n) for n in _CANONICAL.findall(piece)]
        clean = _CANONICAL.sub("", piece)
        clean = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", clean)).strip()
        if not clean.strip(" .,;:!?\"'”“"):
            if parts:  # markers that stood alone after a sentence's full stop belong to that sentence
                parts[-1] = (parts[-1][0], parts[-1][1] + numbers)
            continue
        parts.append((clean, numbers))
    return parts


@dataclass(frozen=True)
class _PassageSentences:
    texts: list[str]
    spans: list[tuple[int, int]]  # in the article
    terms: set[str]


def _split_passage(hit: Hit) -> _PassageSentences:
    """The sentences that can support an answer: all but those that read as instructions to an assistant."""
    text = hit.passage.text
    spans = [(s, e) for s, e in list(sentence_spans(text)) or [(0, len(text))] if not instructs(text[s:e])]
    return _PassageSentences(
        [text[s:e] for s, e in spans],
        [(hit.passage.start + s, hit.passage.start + e) for s, e in spans],
        set(terms(" ".join(text[s:e] for s, e in spans))),
    )


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32) @ np.asarray(b, dtype=np.float32).T


def verify(parsed: Sequence[tuple[str, list[int]]], hits: Sequence[Hit], embed: EmbedFn,
           settings: AnswerSettings) -> tuple[list[AnswerSentence], list[Citation]]:
    """Verify and attach citations; returns sentences and the citations, renumbered 1..n."""
    passages = [_split_passage(h) for h in hits]
    all_sentences = [s for p in passages for s in p.texts]
    answer_vectors = embed([text for text, _ in parsed]) if parsed else np.zeros((0, 1))
    passage_vectors = embed(all_sentences) if all_sentences else np.zeros((0, 1))
    offsets = np.cumsum([0] + [len(p.texts) for p in passages])

    raw: list[tuple[str, list[int], str, list[Support]]] = []  # text, source indexes (0-based), verdict, supports
    for row, (text, numbers) in enumerate(parsed):
        cited = list(dict.fromkeys(n - 1 for n in numbers if 1 <= n <= len(hits)))
        words = set(terms(text))
        if len(words) < 2 or not hits:
            raw.append((text, cited, "neutral", []))
            continue
        if instructs(text):  # a model repeating an article's instruction to an assistant: never news
            raw.append((text, cited, "unsupported", []))
            continue
        sims = _cosines(answer_vectors[row : row + 1], passage_vectors)[0] if len(all_sentences) else np.zeros(0)
        support: dict[int, Support] = {}
        strength: dict[int, float] = {}
        for i, p in enumerate(passages):
            if not p.texts:
                continue
            local = sims[offsets[i] : offsets[i + 1]]
            best = int(np.argmax(local))
            similarity = float(local[best])
            overlap = len(words & p.terms) / len(words)
            if similarity >= settings.support_similarity or overlap >= settings.support_overlap:
                start, end = p.spans[best]
                support[i] = Support(i, p.texts[best], start, end, round(similarity, 4), round(overlap, 4))
                strength[i] = max(similarity, overlap)
        kept = [i for i in cited if i in support]
        if kept:
            raw.append((text, kept, "supported", [support[i] for i in kept]))
        elif support:
            best_i = max(support, key=lambda i: strength[i])
            raw.append((text, [best_i], "attached", [support[best_i]]))
        else:
            raw.append((text, cited, "unsupported", []))

    numbering: dict[int, int] = {}
    for _, indexes, _, _ in raw:
        for i in indexes:
            numbering.setdefault(i, len(numbering) + 1)
    sentences = [
        AnswerSentence(
            text=text,
            citations=tuple(numbering[i] for i in indexes),
            verdict=verdict,  # type: ignore[arg-type]
            support=tuple(Support(numbering[s.citation], s.sentence, s.start, s.end, s.similarity, s.overlap)
                          for s in supports),
        )
        for text, indexes, verdict, supports in raw
    ]
    citations = [citation_for(hits[i], n) for i, n in sorted(numbering.items(), key=lambda kv: kv[1])]
    return sentences, citations


def citation_for(hit: Hit, number: int) -> Citation:
    p = hit.passage
    return Citation(number, p.article_id, p.chunk_id, p.title, p.outlet, p.published, p.url, p.source, p.text,
                    p.start, p.end, hit.also_reported, p.story)


def render(sentences: Sequence[AnswerSentence]) -> str:
    """The answer text with ``[n]`` markers before each sentence's final punctuation."""
    out = []
    for s in sentences:
        markers = "".join(f"[{n}]" for n in s.citations)
        if not markers:
            out.append(s.text)
        elif s.text[-1:] in ".!?":
            out.append(f"{s.text[:-1]} {markers}{s.text[-1]}")
        else:
            out.append(f"{s.text} {markers}")
    return " ".join(out)
