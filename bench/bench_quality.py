"""Retrieval and answer quality on realtimeqa-dev: dense only, BM25 only, fused; extractive answers.

    python bench/bench_quality.py [--index DIR]   # DIR: reuse an index built with the current settings

Builds a throwaway index of the corpus (unless --index), then prints Hit@1, Hit@5, MRR@10 per retriever,
and accuracy, citation precision, refusal rate and latency of the extractive answerer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from common import CORPUS, OUT, QUESTIONS, ROOT, machine, save

sys.path.insert(0, str(ROOT))

from ingest.index import ingest_paths  # noqa: E402
from rag.config import load_settings  # noqa: E402
from rag.evaluate import evaluate, load_questions, report_dict  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402
from rag.service import Engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, help="an existing index_dir built from the corpus")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    args = parser.parse_args()
    work = None
    settings = load_settings(ROOT / "config.toml", env={})
    if args.index:
        settings = settings.replace(paths={"index_dir": str(args.index)})
    else:
        work = Path(tempfile.mkdtemp(prefix="newsrag-quality-"))
        settings = settings.replace(paths={"index_dir": str(work / "index")}, ingest={"max_file_mb": 200.0})
        ingest_paths([args.corpus], settings)
    questions = load_questions(args.questions)
    engine = Engine(settings)
    results: dict[str, dict] = {"machine": {"machine": machine()}}
    variants = {
        "dense only": {"bm25_weight": 0.0, "recency_weight": 0.0},
        "bm25 only": {"dense_weight": 0.0, "recency_weight": 0.0},
        "fused, no recency prior": {"recency_weight": 0.0},
        "fused (default)": {},
        "fused, today = newest article": {},
    }
    try:
        for name, change in variants.items():
            engine.settings = settings.replace(retrieve={**change})
            engine.retriever = Retriever(engine.settings, engine.store, engine.embedder)
            report = evaluate(questions, engine, retrieval_only=True,
                              use_question_dates=name != "fused, today = newest article")
            results[name] = {k: v for k, v in report_dict(report).items() if k in ("hit1", "hit5", "mrr10",
                                                                                   "retrieve_p50_ms", "retrieve_p95_ms")}
            print(f"{name:32s} {json.dumps(results[name])}", flush=True)
        engine.settings = settings
        engine.retriever = Retriever(settings, engine.store, engine.embedder)
        cold = evaluate(questions, engine, provider="extractive", results_path=OUT / "extractive.jsonl")
        warm = evaluate(questions, engine, provider="extractive")
        for name, report in (("extractive, first pass", cold), ("extractive, warm", warm)):
            results[name] = {k: v for k, v in report_dict(report).items()
                             if k in ("accuracy", "citation_precision", "refusal_rate", "errors", "answer_p50_ms",
                                      "answer_p95_ms")}
            print(f"{name:32s} {json.dumps(results[name])}", flush=True)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    save("quality", results)


if __name__ == "__main__":
    main()
