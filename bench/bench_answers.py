"""Answers beyond the benchmark: retrieval and extractive answers on realtimeqa-dev and -2023h1, the dev corpus with
every publication date removed, and the question sets written the way users ask (tests/data/).

    python bench/bench_answers.py [--dev-index DIR] [--h1-index DIR] [--undated-index DIR] [--skip-h1]

Each --*-index reuses an index built from that corpus with the current settings (``newsrag ingest``); without it the
corpus is indexed into a throwaway folder first (h1: about 25 minutes on 2 cores). Prints one JSON line per row and
writes bench/out/answers.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from common import OUT, ROOT, machine, save

sys.path.insert(0, str(ROOT))

from ingest.index import ingest_paths  # noqa: E402
from rag.config import Settings, load_settings  # noqa: E402
from rag.evaluate import evaluate, is_correct, load_questions, report_dict  # noqa: E402
from rag.schema import url_article_id  # noqa: E402
from rag.service import Engine  # noqa: E402
from rag.text import sentence_spans  # noqa: E402

BENCH = ROOT.parent / "shared" / "bench"
DATA = ROOT / "tests" / "data"
KEYS = ("questions", "hit1", "hit5", "mrr10", "accuracy", "cited_gold", "citation_precision", "refusal_rate",
        "off_corpus", "off_corpus_refused", "retrieve_p50_ms", "answer_p50_ms", "answer_p95_ms")


def undated_copy(corpus: Path, folder: Path) -> Path:
    """The corpus with every ``published`` field removed (dates may still be found in URLs and datelines)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "corpus-undated.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for line in corpus.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                row.pop("published", None)
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


def engine_for(base: Settings, index: Path | None, corpus: Path, work: Path, name: str) -> Engine:
    if index is None:
        index = work / name
        settings = base.replace(paths={"index_dir": str(index)}, ingest={"max_file_mb": 500.0})
        report = ingest_paths([corpus], settings)
        print(f"# indexed {name}: {report.totals['added']} articles in {report.seconds:.0f} s", flush=True)
    return Engine(base.replace(paths={"index_dir": str(index)}))


def gold_articles(bench: Path) -> dict[str, dict]:
    articles = {}
    for line in (bench / "corpus.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        articles[url_article_id(record["url"])] = record
    return articles


def row(results: dict, name: str, engine: Engine, questions: Path, *, retrieval_only: bool = False) -> None:
    out = OUT / f"answers-{name.replace(' ', '-')}.jsonl"
    asked = load_questions(questions)
    report = report_dict(evaluate(asked, engine, retrieval_only=retrieval_only, results_path=out))
    results[name] = {k: report[k] for k in KEYS if report.get(k) is not None}
    if not retrieval_only and (questions.parent / "corpus.jsonl").is_file():
        # A refusal is right when the gold article does not hold the answer at all (the corpus keeps a page's
        # first part only): count the refusals of the questions a reader of the gold article could answer apart.
        articles = gold_articles(questions.parent)
        refused = {r["id"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines()) if r["refused"]}
        holds = [q for q in asked if any(q.answer.casefold() in f"{a['title']} {a['text']}".casefold()
                                         for a in (articles.get(url_article_id(u)) for u in q.gold_urls) if a)]
        results[name]["answerable_in_gold"] = len(holds)
        results[name]["refusal_rate_answerable"] = round(sum(q.id in refused for q in holds) / max(1, len(holds)), 4)
    print(f"{name:34s} {json.dumps(results[name])}", flush=True)


def ceiling(results: dict, name: str, bench: Path) -> None:
    """The best accuracy any verbatim answerer can reach: the share of questions whose gold answer (and no other
    choice) is in one sentence of a gold article, and whose gold answer text occurs anywhere in one."""
    articles = gold_articles(bench)
    questions = load_questions(bench / "questions.jsonl")
    sentence = anywhere = 0
    for q in questions:
        gold = [articles[a] for a in {url_article_id(u) for u in q.gold_urls} if a in articles]
        texts = [a["text"][s:e] for a in gold for s, e in sentence_spans(a["text"])] + [a["title"] or "" for a in gold]
        sentence += any(is_correct(t, q) for t in texts)
        anywhere += any(q.answer.casefold() in f"{a['title']} {a['text']}".casefold() for a in gold)
    results[name] = {"questions": len(questions), "one_sentence": round(sentence / len(questions), 4),
                     "anywhere_in_gold_article": round(anywhere / len(questions), 4)}
    print(f"{name:34s} {json.dumps(results[name])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev-index", type=Path)
    parser.add_argument("--h1-index", type=Path)
    parser.add_argument("--undated-index", type=Path)
    parser.add_argument("--skip-h1", action="store_true")
    args = parser.parse_args()
    base = load_settings(ROOT / "config.toml", env={})
    work = Path(tempfile.mkdtemp(prefix="newsrag-answers-"))
    results: dict[str, dict] = {"machine": {"machine": machine()}}
    try:
        ceiling(results, "dev, ceiling of verbatim answers", BENCH / "realtimeqa-dev")
        if not args.skip_h1:
            ceiling(results, "h1, ceiling of verbatim answers", BENCH / "realtimeqa-2023h1")
        dev = engine_for(base, args.dev_index, BENCH / "realtimeqa-dev" / "corpus.jsonl", work, "dev")
        row(results, "dev", dev, BENCH / "realtimeqa-dev" / "questions.jsonl")
        row(results, "dev, off-corpus set", dev, DATA / "offcorpus_dev.jsonl")
        undated = engine_for(base, args.undated_index, undated_copy(BENCH / "realtimeqa-dev" / "corpus.jsonl", work),
                             work, "undated")
        row(results, "dev, every published field removed", undated, BENCH / "realtimeqa-dev" / "questions.jsonl",
            retrieval_only=True)
        bundled = engine_for(base, None, ROOT / "data" / "articles", work, "bundled")
        row(results, "bundled articles, user questions", bundled, DATA / "bundled_questions.jsonl")
        row(results, "bundled articles, off-corpus set", bundled, DATA / "bundled_offcorpus.jsonl")
        if not args.skip_h1:
            h1 = engine_for(base, args.h1_index, BENCH / "realtimeqa-2023h1" / "corpus.jsonl", work, "h1")
            row(results, "h1", h1, BENCH / "realtimeqa-2023h1" / "questions.jsonl")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save("answers", results)


if __name__ == "__main__":
    main()
