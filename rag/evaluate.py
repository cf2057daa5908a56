"""Evaluation on a question set like realtimeqa-dev: retrieval, answers, citations, refusals, latency.

Questions are JSON Lines with ``question``, ``answer``, optional ``choices``,
``gold_urls`` and ``date`` (the day it was asked: "today" for relative dates).

* Retrieval, at article level: Hit@1, Hit@5 and MRR@10 of the first gold article.
* Accuracy: the answer contains the gold answer's text and no other choice's.
* Citation precision: the share of citations that point into a gold article or
  support their sentence (verdict supported or attached).
* Refusal rate, and latency p50/p95 of retrieval and of the whole answer.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rag.errors import NewsragError
from rag.schema import Filters, url_article_id
from rag.service import Done, Engine, Error, ask


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    gold_urls: tuple[str, ...] = ()
    date: date | None = None


@dataclass
class EvalReport:
    questions: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    accuracy: float | None = None
    citation_precision: float | None = None
    refusal_rate: float | None = None
    errors: int = 0
    retrieve_p50_ms: float = 0.0
    retrieve_p95_ms: float = 0.0
    answer_p50_ms: float | None = None
    answer_p95_ms: float | None = None
    provider: str = ""


def load_questions(path: Path) -> list[Question]:
    out: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(Question(
                id=str(row.get("id", number)), question=row["question"], answer=str(row.get("answer", "")),
                choices=tuple(row.get("choices") or ()), gold_urls=tuple(row.get("gold_urls") or ()),
                date=date.fromisoformat(row["date"][:10]) if row.get("date") else None,
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise NewsragError(f"{path} line {number}: not a question record ({exc})") from exc
    if not out:
        raise NewsragError(f"{path} holds no questions")
    return out


def contains(text: str, phrase: str) -> bool:
    return phrase.strip().casefold() in text.casefold() if phrase.strip() else False


def is_correct(text: str, q: Question) -> bool:
    """Contains the gold answer and no other choice (case-insensitive)."""
    if not contains(text, q.answer):
        return False
    return not any(contains(text, c) for c in q.choices if c.strip().casefold() != q.answer.strip().casefold())


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def evaluate(
    questions: list[Question],
    engine: Engine,
    *,
    provider: str | None = None,
    retrieval_only: bool = False,
    use_question_dates: bool = True,
    results_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Run every question; write per-question results to ``results_path`` (JSONL) when given."""
    provider = provider or engine.settings.llm.provider
    rows: list[dict[str, Any]] = []
    for done, q in enumerate(questions, start=1):
        today = q.date if use_question_dates else None
        gold = {url_article_id(u) for u in q.gold_urls}
        t0 = time.perf_counter()
        retrieval = engine.retriever.search(q.question, Filters(), today=today)
        retrieve_ms = (time.perf_counter() - t0) * 1000
        ranked = list(retrieval.ranked_articles)
        rank = next((i + 1 for i, a in enumerate(ranked[:10]) if a in gold), None)
        row: dict[str, Any] = {"id": q.id, "question": q.question, "gold": q.answer, "rank": rank,
                               "retrieve_ms": round(retrieve_ms, 2), "date_filter": retrieval.date_text}
        if not retrieval_only:
            t0 = time.perf_counter()
            final, error = None, ""
            for event in ask(q.question, None, None, engine=engine, provider=provider, today=today):
                if isinstance(event, Done):
                    final = event.answer
                elif isinstance(event, Error):
                    error = event.message
                    final = event.partial
            row["answer_ms"] = round((time.perf_counter() - t0) * 1000, 2)
            row["error"] = error
            if final is not None:
                supported = {n for s in final.sentences if s.verdict in ("supported", "attached") for n in s.citations}
                good = [c.number for c in final.citations if c.article_id in gold or c.number in supported]
                row.update(answer=final.text, refused=final.refused, correct=is_correct(final.text, q),
                           citations=len(final.citations), good_citations=len(good),
                           cited_gold=any(c.article_id in gold for c in final.citations))
            else:
                row.update(answer="", refused=False, correct=False, citations=0, good_citations=0, cited_gold=False)
        rows.append(row)
        if progress:
            progress(done, len(questions))
    if results_path is not None:
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return summarize(rows, provider, retrieval_only)


def summarize(rows: list[dict[str, Any]], provider: str, retrieval_only: bool) -> EvalReport:
    n = len(rows)
    ranks = [r["rank"] for r in rows]
    report = EvalReport(
        questions=n,
        hit1=sum(1 for r in ranks if r == 1) / n,
        hit5=sum(1 for r in ranks if r and r <= 5) / n,
        mrr10=sum(1 / r for r in ranks if r) / n,
        retrieve_p50_ms=statistics.median(r["retrieve_ms"] for r in rows),
        retrieve_p95_ms=percentile([r["retrieve_ms"] for r in rows], 95),
        provider=provider,
    )
    if not retrieval_only:
        cited = sum(r["citations"] for r in rows)
        report.accuracy = sum(1 for r in rows if r["correct"]) / n
        report.citation_precision = sum(r["good_citations"] for r in rows) / cited if cited else 0.0
        report.refusal_rate = sum(1 for r in rows if r["refused"]) / n
        report.errors = sum(1 for r in rows if r["error"])
        report.answer_p50_ms = statistics.median(r["answer_ms"] for r in rows)
        report.answer_p95_ms = percentile([r["answer_ms"] for r in rows], 95)
    return report


def report_dict(report: EvalReport) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(report).items()}
