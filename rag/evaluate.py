"""Evaluation on a question set like realtimeqa-dev: retrieval, answers, citations, refusals, latency.

Questions are JSON Lines with ``question``, ``answer``, optional ``choices``,
``gold_urls`` and ``date`` (the day it was asked, "as of" which it is answered).
Question sets written the way users ask (tests/data/) may instead give
``answers`` (any one counts), ``article`` (the source file that holds the answer),
``history`` (earlier questions of the same chat, asked first) and no answer at all:
an off-corpus question, which must be refused.

* Retrieval, at article level: Hit@1, Hit@5 and MRR@10 of the first gold article.
* Accuracy: the answer contains the gold answer's text and no other choice's.
* Citation precision: the share of citations that point into a gold article or
  support their sentence (verdict supported or attached).
* Refusal rate of the answerable questions, and the share of off-corpus questions refused.
* Latency p50/p95 of retrieval and of the whole answer.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rag.errors import InputError
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
    answers: tuple[str, ...] = ()  # alternatives to ``answer``: any one counts
    article: str = ""  # the source (file name) of the article that holds the answer
    history: tuple[str, ...] = ()  # earlier questions of the same conversation
    topic: str = ""  # free-form label of the question set (off-corpus sets: "near", "far", "sport", ...)

    @property
    def off_corpus(self) -> bool:
        return not self.answer and not self.answers


@dataclass
class EvalReport:
    questions: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    accuracy: float | None = None
    citation_precision: float | None = None
    refusal_rate: float | None = None  # of the answerable questions
    cited_gold: float | None = None  # share of answerable questions whose citations include a gold article
    off_corpus: int = 0
    off_corpus_refused: float | None = None
    errors: int = 0
    retrieve_p50_ms: float = 0.0
    retrieve_p95_ms: float = 0.0
    answer_p50_ms: float | None = None
    answer_p95_ms: float | None = None
    provider: str = ""


def existing_file(name: str | Path, what: str) -> Path:
    """``name`` as a path to a readable regular file, or a InputError saying what is wrong with it."""
    path = Path(name).expanduser()
    if not path.exists():
        raise InputError(f"{what} {path}: no such file")
    if not path.is_file():
        raise InputError(f"{what} {path}: not a file")
    return path


def output_path(name: str | Path, inputs: Sequence[Path]) -> Path:
    """Where per-question results may be written: never over an input (compared after resolving links
    and ``..``, and by inode for hard links), never a folder. Checked before the run, not after it."""
    out = Path(name).expanduser()
    for given in inputs:
        same = out.resolve() == given.resolve() or (out.exists() and os.path.samefile(out, given))
        if same:
            raise InputError(f"--out {out} is the input file {given}: it would be overwritten; choose another path")
    if out.is_dir():
        raise InputError(f"--out {out} is a folder: give a file path such as {out / 'results.jsonl'}")
    return out


_LIST_FIELDS = ("choices", "gold_urls", "answers", "history")


def load_questions(path: Path) -> list[Question]:
    """The questions of a JSON Lines file. Any malformed line (not UTF-8, not JSON, not an object, a
    missing or empty ``question``, a field of the wrong type, a bad ``date``) is a InputError naming the
    line; so is a file with no question at all."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    nul = data.find(b"\x00", 0, 8192)
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(f"{path} line {line}: binary data, not JSON Lines questions")
    out: list[Question] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            out.append(_question(raw, number))
        except ValueError as exc:
            raise InputError(f"{path} line {number}: {exc}") from None
    if not out:
        raise InputError(f"{path} holds no questions (expected one JSON object per line with a \"question\")")
    return out


def _question(raw: bytes, number: int) -> Question:
    if b"\x00" in raw:
        raise ValueError("binary data, not a line of JSON")
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"malformed JSON ({getattr(exc, 'msg', 'nested too deeply')})") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('no "question" (a non-empty string)' if question is None else '"question" must be a non-empty string')
    for key in ("answer", "id", "article", "topic"):
        if not isinstance(row.get(key, ""), (str, int, float)):
            raise ValueError(f'"{key}" must be a string, not {type(row[key]).__name__}')
    for key in _LIST_FIELDS:
        value = row.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
            raise ValueError(f'"{key}" must be a list of strings')
    day = row.get("date")
    if day and not isinstance(day, str):
        raise ValueError('"date" must be a YYYY-MM-DD string')
    try:
        when = date.fromisoformat(day[:10]) if day else None
    except ValueError:
        raise ValueError(f'"date" {day!r} is not a YYYY-MM-DD date') from None
    return Question(
        id=str(row.get("id", number)), question=question, answer=str(row.get("answer", "")),
        choices=tuple(str(c) for c in row.get("choices") or ()), gold_urls=tuple(str(u) for u in row.get("gold_urls") or ()),
        date=when, answers=tuple(str(a) for a in row.get("answers") or ()), article=str(row.get("article", "")),
        history=tuple(str(h) for h in row.get("history") or ()), topic=str(row.get("topic", "")),
    )


def contains(text: str, phrase: str) -> bool:
    return phrase.strip().casefold() in text.casefold() if phrase.strip() else False


def is_correct(text: str, q: Question) -> bool:
    """Contains the gold answer (or one of ``answers``) and no other choice (case-insensitive)."""
    if not any(contains(text, a) for a in (q.answer, *q.answers)):
        return False
    return not any(contains(text, c) for c in q.choices if c.strip().casefold() != q.answer.strip().casefold())


def _conversation(q: Question, engine: Engine, provider: str, today: date | None) -> list[tuple[str, str]]:
    """The chat before ``q``: its history questions, each asked and answered in turn."""
    turns: list[tuple[str, str]] = []
    for earlier in q.history:
        reply = ""
        for event in ask(earlier, turns, None, engine=engine, provider=provider, today=today):
            if isinstance(event, Done):
                reply = event.answer.text
        turns += [("user", earlier), ("assistant", reply)]
    return turns


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
        history = _conversation(q, engine, provider, today) if q.history and not retrieval_only else []
        t0 = time.perf_counter()
        retrieval = engine.retriever.search(q.question, Filters(), today=today)
        retrieve_ms = (time.perf_counter() - t0) * 1000
        ranked = list(retrieval.ranked_articles)
        if q.article:
            by_source = {h.passage.article_id for h in retrieval.candidates if h.passage.source.endswith(q.article)}
            gold |= by_source
        rank = next((i + 1 for i, a in enumerate(ranked[:10]) if a in gold), None)
        row: dict[str, Any] = {"id": q.id, "question": q.question, "gold": q.answer or "|".join(q.answers),
                               "off_corpus": q.off_corpus, "rank": rank,
                               "retrieve_ms": round(retrieve_ms, 2), "dates_read": retrieval.dates.text}
        if not retrieval_only:
            t0 = time.perf_counter()
            final, error = None, ""
            for event in ask(q.question, history, None, engine=engine, provider=provider, today=today):
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
                row.update(answer=final.text, lead=final.lead, refused=final.refused,
                           refusal=final.refusal.reason if final.refusal else "",
                           correct=not q.off_corpus and is_correct(final.text, q),
                           citations=len(final.citations), good_citations=len(good),
                           cited_gold=any(c.article_id in gold or (q.article and c.source.endswith(q.article))
                                          for c in final.citations))
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
    """Scores over the answerable rows; the off-corpus rows only count for ``off_corpus_refused``."""
    outside = [r for r in rows if r.get("off_corpus")]
    rows = [r for r in rows if not r.get("off_corpus")]
    report = EvalReport(off_corpus=len(outside), provider=provider)
    if outside and not retrieval_only:
        report.off_corpus_refused = sum(1 for r in outside if r["refused"]) / len(outside)
    if not rows:
        return report
    n = len(rows)
    ranks = [r["rank"] for r in rows]
    report.questions = n
    report.hit1 = sum(1 for r in ranks if r == 1) / n
    report.hit5 = sum(1 for r in ranks if r and r <= 5) / n
    report.mrr10 = sum(1 / r for r in ranks if r) / n
    report.retrieve_p50_ms = statistics.median(r["retrieve_ms"] for r in rows)
    report.retrieve_p95_ms = percentile([r["retrieve_ms"] for r in rows], 95)
    if not retrieval_only:
        cited = sum(r["citations"] for r in rows)
        report.accuracy = sum(1 for r in rows if r["correct"]) / n
        report.citation_precision = sum(r["good_citations"] for r in rows) / cited if cited else 0.0
        report.refusal_rate = sum(1 for r in rows if r["refused"]) / n
        report.cited_gold = sum(1 for r in rows if r["cited_gold"]) / n
        report.errors = sum(1 for r in rows if r["error"])
        report.answer_p50_ms = statistics.median(r["answer_ms"] for r in rows)
        report.answer_p95_ms = percentile([r["answer_ms"] for r in rows], 95)
    return report


def report_dict(report: EvalReport) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(report).items()}
