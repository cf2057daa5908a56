"""The model-free answerer: the few sentences of the retrieved passages that best answer the question.

Each sentence of the context is scored by embedding similarity to the question
plus the share of the question's content words it contains. The best one is
taken, then up to ``[answer] max_sentences`` more that score close to it and do
not repeat what was already chosen. They are printed in passage order, each with
its source's marker, and then go through the same citation verifier as LLM text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.citations import EmbedFn
from rag.config import AnswerSettings
from rag.schema import Hit
from rag.text import sentence_spans, terms

SIMILARITY_WEIGHT = 0.6  # the rest is word overlap with the question
RANK_PRIOR = 0.15  # sentences of better-ranked passages get up to this much extra (first passage: all of it)
KEEP_RATIO = 0.85  # further sentences must score at least this share of the best one
MIN_WORDS = 5  # shorter fragments (datelines, captions) are not answers


@dataclass(frozen=True)
class Candidate:
    hit_index: int
    start: int
    text: str
    score: float


def candidates(question: str, hits: Sequence[Hit], embed: EmbedFn) -> tuple[list[Candidate], np.ndarray]:
    """Every sentence of the passages, scored against the question; with their embeddings."""
    pieces: list[tuple[int, int, str]] = []
    for i, hit in enumerate(hits):
        text = hit.passage.text
        for start, end in sentence_spans(text):
            sentence = text[start:end].strip()
            if len(sentence.split()) >= MIN_WORDS and not sentence.rstrip("”\"’' ").endswith("?"):  # a question answers nothing
                pieces.append((i, start, sentence))
    if not pieces:
        return [], np.zeros((0, 1), dtype=np.float32)
    vectors = embed([p[2] for p in pieces])
    query = embed([question])[0]
    similarity = vectors @ query
    q_terms = set(terms(question))
    scored = []
    for (i, start, sentence), sim in zip(pieces, similarity):
        overlap = len(q_terms & set(terms(sentence))) / len(q_terms) if q_terms else 0.0
        relevance = SIMILARITY_WEIGHT * float(sim) + (1 - SIMILARITY_WEIGHT) * overlap
        scored.append(Candidate(i, start, sentence, relevance * (1 + RANK_PRIOR / (i + 1))))
    return scored, vectors


def extractive_answer(question: str, hits: Sequence[Hit], embed: EmbedFn, settings: AnswerSettings) -> str:
    """Answer text with ``[n]`` markers (n = 1-based position in ``hits``); "" when nothing fits."""
    scored, vectors = candidates(question, hits, embed)
    if not scored:
        return ""
    order = sorted(range(len(scored)), key=lambda k: -scored[k].score)
    best = scored[order[0]].score
    chosen: list[int] = []
    for k in order:
        if len(chosen) >= settings.max_sentences or scored[k].score < KEEP_RATIO * best:
            break
        if any(float(vectors[k] @ vectors[j]) >= settings.redundancy for j in chosen):
            continue
        chosen.append(k)
    chosen.sort(key=lambda k: (scored[k].hit_index, scored[k].start))
    return " ".join(f"{scored[k].text} [{scored[k].hit_index + 1}]" for k in chosen)
