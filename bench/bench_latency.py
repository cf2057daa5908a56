"""Latency benchmark: hybrid retrieval with a date filter at 100k chunks (a synthetic index this script
builds), a whole extractive answer on realtimeqa-dev, and cold starts of `newsrag ask` and `newsrag serve`.

    python bench/bench_latency.py [--chunks 100000] [--skip-scale] [--skip-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from common import CORPUS, QUESTIONS, ROOT, machine, save, serve_until_ready

sys.path.insert(0, str(ROOT))

from ingest.index import ingest_paths  # noqa: E402
from rag.config import load_settings  # noqa: E402
from rag.evaluate import load_questions, percentile  # noqa: E402
from rag.schema import Filters, date_key, outlet_key  # noqa: E402
from rag.service import Done, Engine, ask  # noqa: E402
from rag.store import ArticleRecord  # noqa: E402
from rag.text import sentences  # noqa: E402


def p50_p95(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 95), 1)}


def synthetic_index(settings, n_chunks: int, seed: int = 7) -> Engine:
    """``n_chunks`` chunks: text assembled from corpus sentences, vectors near real ones, dates over 2 years."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    pool = [s for r in rows for s in sentences(r["text"]) if 6 <= len(s.split()) <= 40]
    engine = Engine(settings)
    anchors = engine.embedder.embed_documents(rng.sample(pool, 512))
    outlets = ["CNN", "USA Today", "The Week", "Reuters", "AP", "BBC", "Guardian", "NPR"]
    per_article, batch = 10, 4000
    start_day = date(2022, 1, 1)
    ids, docs, metas, vecs, records = [], [], [], [], []

    def flush() -> None:
        if ids:
            vectors = np.asarray(vecs, dtype=np.float32)
            engine.store.upsert_chunks(ids, vectors, docs, metas)
            engine.store.put_records(records)
            ids.clear(), docs.clear(), metas.clear(), vecs.clear(), records.clear()

    for i in range(n_chunks):
        article = i // per_article
        day = start_day + timedelta(days=article % 730)
        outlet = outlets[article % len(outlets)]
        text = " ".join(rng.sample(pool, 6))
        vector = anchors[rng.randrange(len(anchors))] + nrng.normal(0, 0.04, anchors.shape[1])
        ids.append(f"s{article:06d}-{i % per_article:04d}")
        docs.append(text)
        metas.append({"article_id": f"s{article:06d}", "article_hash": "synthetic", "position": i % per_article,
                      "start": 0, "end": len(text), "title": f"Synthetic article {article}", "outlet": outlet,
                      "outlet_key": outlet_key(outlet), "url": f"https://synthetic.example/{article}",
                      "source": "synthetic", "published": day.isoformat(), "published_key": date_key(day)})
        vecs.append(vector / np.linalg.norm(vector))
        if i % per_article == 0:
            records.append(ArticleRecord(id=f"s{article:06d}", key=f"synthetic:{article}", source="synthetic",
                                         status="done", hash="synthetic", chunks=per_article,
                                         published=day.isoformat(), outlet=outlet))
        if len(ids) >= batch:
            flush()
    flush()
    engine.store.touch()
    engine.retriever.lexical.refresh()
    return engine


def scale(n_chunks: int, work: Path) -> dict:
    settings = load_settings(ROOT / "config.toml", env={}).replace(paths={"index_dir": str(work / "scale")})
    t0 = time.perf_counter()
    engine = synthetic_index(settings, n_chunks)
    build = time.perf_counter() - t0
    questions = [q.question for q in load_questions(QUESTIONS)]
    since = Filters(since=date(2023, 1, 1))
    for q in questions[:10]:  # warm up
        engine.retriever.search(q, since)
    timings = []
    for q in questions:
        t = time.perf_counter()
        engine.retriever.search(q, since)
        timings.append((time.perf_counter() - t) * 1000)
    return {"chunks": engine.store.count_chunks(), "build_s": round(build, 1), **p50_p95(timings)}


def answers(work: Path) -> dict:
    settings = load_settings(ROOT / "config.toml", env={}).replace(paths={"index_dir": str(work / "rtqa")},
                                                                   ingest={"max_file_mb": 200.0})
    ingest_paths([CORPUS], settings)
    engine = Engine(settings)
    engine.warm()
    questions = load_questions(QUESTIONS)
    list(ask("warm up question about the news", engine=engine))
    timings = []
    for q in questions:
        t = time.perf_counter()
        for event in ask(q.question, engine=engine, today=q.date):
            if isinstance(event, Done):
                break
        timings.append((time.perf_counter() - t) * 1000)
    return {"questions": len(questions), **p50_p95(timings), "index_dir": str(settings.index_dir)}


def cold(index_dir: str, work: Path) -> dict:
    config = work / "cold.toml"
    config.write_text(f'[paths]\nindex_dir = "{index_dir}"\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    asks = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "ask",
                        "Who won the Singapore Grand Prix?"], cwd=ROOT, env=env, check=True, capture_output=True)
        asks.append(time.perf_counter() - t)
    serves = [serve_until_ready(config) for _ in range(3)]
    return {"ask_s": round(statistics.median(asks), 2), "ask_min_s": round(min(asks), 2), "ask_runs": len(asks),
            "serve_s": round(statistics.median(serves), 2), "serve_min_s": round(min(serves), 2),
            "serve_runs": len(serves)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsrag-latency-"))
    result: dict = {"machine": machine()}
    try:
        if not args.skip_scale:
            result["retrieval_100k"] = scale(args.chunks, work)
            print(f"{'retrieval, date filter':>24}: {json.dumps(result['retrieval_100k'])}", flush=True)
        result["extractive_answer"] = answers(work)
        print(f"{'whole extractive answer':>24}: {json.dumps(result['extractive_answer'])}", flush=True)
        if not args.skip_cold:
            result["cold_start"] = cold(result["extractive_answer"]["index_dir"], work)
            print(f"{'cold start':>24}: {json.dumps(result['cold_start'])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save("latency", result)


if __name__ == "__main__":
    main()
