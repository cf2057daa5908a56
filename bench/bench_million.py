"""newsrag at a newsroom's scale: a synthetic index of ``--chunks`` chunks (1M by default) made from the
realtimeqa-2023h1 index, then what a user feels at that size. Not run in CI.

    python bench/bench_million.py --source H1.toml --work DIR [--chunks 1000000] [--batch 50000]
        [--runs 3] [--new DEV/corpus.jsonl] [--before OTHER_CHECKOUT --before-work COPY_OF_DIR]
        [--server] [--reads-before OTHER_CHECKOUT]

The corpus: every h1 article copied until there are ``--chunks`` chunks. Copy 0 is the original; copy k
gets its own article and chunk ids, one of 40 wire outlets, a date moved by up to two years (one shift per
article, so the corpus spans 2021-2023), and each chunk's h1 vector plus a little noise (sigma 0.01 per
dimension, renormalised: cosine about 0.98 to the original), so no two vectors are the same. The texts are
h1's, so words and their frequencies are a real newsroom's, repeated. Vectors are not computed (the
embedder's speed is measured by bench_ingest.py; at this machine's rate 1M chunks would take hours).

It is written the way ingest writes: batches of ``--batch`` chunks, each upserted into Chroma with its
articles' records, the store version bumped and the lexical index updated with that batch's chunks only
(:meth:`rag.lexical.LexicalCache.refresh`), each batch timed, so the throughput over the whole run shows.
Then, each timed from outside as a whole process (min and median of ``--runs``):

* ``newsrag ingest`` of 10 new articles (from ``--new``, 10 different ones each run);
* ``newsrag serve`` until its API answers;
* ``newsrag ask`` of one question;

and in one child process, hybrid retrieval p50/p95 over 200 h1 questions without filters, with a date
range, with an outlet and with both (a breakdown: no process start in it), each asked twice: the first pass
reads most chunks' texts from disk, the second finds them in the page cache, as a server that has answered
for a while does. Disk size and peak memory too.
Results go to bench/out/million-<chunks>.json.

With ``--before`` (another checkout) and ``--before-work`` (a copy of the built index, e.g. ``cp -a DIR
COPY``, in whatever layout that code reads), only the adds are timed: both sides through the same harness
(``python -m rag.cli ingest``), alternating, each adding the same 10 articles to its own index in place.
Results go to bench/out/million-<chunks>-update.json. With ``--server``, only the adds are timed, with the
index's Chroma behind a `chroma run` server on 127.0.0.1 ([store] mode = "http"), which keeps its vector
index loaded between ingests (bench/out/million-<chunks>-server.json). With ``--reads-before`` (another
checkout), only ``newsrag ask`` and ``newsrag serve`` until ready are timed, alternating with that code on the
same index (bench/out/million-<chunks>-reads.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_update import timed_ingest
from common import OUT, ROOT, free_port, machine, run_newsrag, save, serve_until_ready, wait_until_answers

sys.path.insert(0, str(ROOT))

OUTLETS = [f"Wire {n:02d}" for n in range(40)]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_config(work: Path) -> Path:
    config = work / "config.toml"
    config.write_text(f'[paths]\nindex_dir = "{work / "index"}"\narticles_dir = "{work / "articles"}"\n'
                      f'[ingest]\nmax_file_mb = 200.0\n')
    return config


def build(source_config: Path, work: Path, n_chunks: int, batch: int) -> dict:
    """Write the synthetic index in batches as ingest runs would; per-batch throughput."""
    from datetime import date, timedelta

    from rag.config import load_settings
    from rag.lexical import build_lexical_cache
    from rag.manifest import ArticleRecord
    from rag.schema import date_key, outlet_key
    from rag.store import get_store

    source = get_store(load_settings(source_config))
    by_article: dict[str, list[tuple[str, np.ndarray, str, dict]]] = {}
    for got in source.pages(2000, ("documents", "metadatas", "embeddings")):
        for cid, vec, doc, meta in zip(got["ids"], got["embeddings"], got["documents"], got["metadatas"]):
            by_article.setdefault(meta["article_id"], []).append((cid, np.asarray(vec, np.float32), doc, dict(meta)))
    records = {r.id: r for r in source.records().values() if r.status == "done"}
    articles = sorted(a for a in by_article if a in records)
    print(f"source: {sum(len(by_article[a]) for a in articles)} chunks of {len(articles)} articles", flush=True)
    settings = load_settings(write_config(work))
    store = get_store(settings, source.embedding_model)
    lexical = build_lexical_cache(settings, store)
    noise = np.random.default_rng(7)
    rows: list[dict] = []
    pending: dict[str, list] = {"ids": [], "vecs": [], "docs": [], "metas": [], "records": []}
    written = 0

    def flush() -> None:
        nonlocal written
        if not pending["ids"]:
            return
        changes = store.track_changes()
        t0 = time.perf_counter()
        store.put_records(pending["records"])
        store.upsert_chunks(pending["ids"], np.asarray(pending["vecs"], dtype=np.float32), pending["docs"],
                            pending["metas"])
        store.touch()
        t1 = time.perf_counter()
        lexical.refresh(changes)
        t2 = time.perf_counter()
        written += len(pending["ids"])
        rows.append({"chunks_after": written, "batch": len(pending["ids"]), "chroma_s": round(t1 - t0, 2),
                     "lexical_s": round(t2 - t1, 2), "lexical_updated": lexical.updated,
                     "chunks_per_s": round(len(pending["ids"]) / (t2 - t0), 1), "peak_mib": round(peak_mib())})
        print(json.dumps(rows[-1]), flush=True)
        for values in pending.values():
            values.clear()

    copy = 0
    while written + len(pending["ids"]) < n_chunks:
        for article_id in articles:
            if written + len(pending["ids"]) >= n_chunks:
                break
            record = records[article_id]
            rng = random.Random(f"{article_id}~{copy}")
            new_id = article_id if copy == 0 else f"{article_id}~{copy}"
            outlet = record.outlet if copy == 0 else OUTLETS[rng.randrange(len(OUTLETS))]
            shift = timedelta(days=-rng.randrange(730))
            day = date.fromisoformat(record.published) + shift if record.published and copy else None
            published = day.isoformat() if day else record.published
            article_hash = record.hash if copy == 0 else f"{record.hash[:24]}{copy:08d}"
            for cid, vec, doc, meta in by_article[article_id]:
                if copy:
                    vec = vec + noise.normal(0, 0.01, vec.shape).astype(np.float32)
                    vec /= np.linalg.norm(vec)
                    meta = {**meta, "article_id": new_id, "article_hash": article_hash, "outlet": outlet,
                            "outlet_key": outlet_key(outlet), "url": f"{meta.get('url', '')}#copy{copy}",
                            "published": published, "published_key": date_key(day) if day else 0}
                    if "story" in meta:
                        meta["story"] = f"{meta['story']}~{copy}"
                pending["ids"].append(cid if copy == 0 else f"{cid}~{copy}")
                pending["vecs"].append(vec)
                pending["docs"].append(doc)
                pending["metas"].append(meta)
            pending["records"].append(ArticleRecord(
                id=new_id, key=f"{record.key}~{copy}", source=record.source, title=record.title, outlet=outlet,
                url=f"{record.url}#copy{copy}" if copy else record.url, published=published, status="done",
                hash=article_hash, text_hash=f"{record.text_hash}~{copy}", chunks=len(by_article[article_id]),
                updated=time.time()))
            if len(pending["ids"]) >= batch:
                flush()
        copy += 1
    flush()
    return {"batches": rows, "chunks": store.count_chunks(), "articles": len(store.records()),
            "build_peak_mib": round(peak_mib())}


def min_median(values: list[float]) -> dict[str, float]:
    return {"min_s": round(min(values), 2), "median_s": round(statistics.median(values), 2),
            "all_s": [round(v, 2) for v in values]}


def queries(config: Path, questions: Path) -> dict:
    """In this (child) process: hybrid retrieval p50/p95 per filter setting, after 10 warm-up questions."""
    from datetime import date

    from rag.config import load_settings
    from rag.evaluate import load_questions, percentile
    from rag.schema import Filters
    from rag.service import Engine

    engine = Engine(load_settings(config))
    asked = [q.question for q in load_questions(questions)][:200]
    settings = {"none": Filters(), "date": Filters(since=date(2022, 10, 1), until=date(2022, 12, 31)),
                "outlet": Filters(outlets=("Wire 07",)),
                "date+outlet": Filters(since=date(2022, 10, 1), until=date(2022, 12, 31), outlets=("Wire 07",))}
    for q in asked[:10]:
        engine.retriever.search(q)
    out: dict = {}
    for name, filters in settings.items():
        for again in (False, True):  # the first pass reads the chunks from disk, the second mostly from memory
            ms = []
            for q in asked:
                t = time.perf_counter()
                engine.retriever.search(q, filters)
                ms.append((time.perf_counter() - t) * 1000)
            key = f"{name} (second pass)" if again else name
            out[key] = {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(percentile(ms, 95), 1)}
            print(key, out[key], flush=True)
    out["peak_mib"] = round(peak_mib())
    return out


def server_adds(args: argparse.Namespace, lines: list[str], first: int, result: dict) -> None:
    """Adding 10 articles with the index's Chroma behind a `chroma run` server ([store] mode = "http"), which
    keeps its vector index loaded between ingests: one untimed add loads it, then ``--runs`` timed ones."""
    port = free_port()
    config = args.work / "http.toml"
    config.write_text((args.work / "config.toml").read_text()
                      + f'[store]\nmode = "http"\nhost = "127.0.0.1"\nport = {port}\n')
    chroma = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen([str(chroma), "run", "--path", str(args.work / "index" / "chroma"), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/api/v2/heartbeat", server, "chroma run", 60)
        adds, peaks = [], []
        for run in range(first, first + args.runs + 1):
            ten = args.work / f"ten-{run}.jsonl"
            ten.write_text("\n".join(lines[10 * run:10 * run + 10]) + "\n")
            out, wall, peak = run_newsrag(config, "ingest", str(ten), json_out=False)
            summary = out.strip().splitlines()[-1]
            print(f"add 10 articles{' (loads the server)' if run == first else ''}: {wall:.2f} s ({summary})",
                  flush=True)
            if " added" not in summary:
                raise RuntimeError(f"{ten} added nothing (an earlier run added its articles): pass another --first")
            if run > first:
                adds.append(wall)
                peaks.append(peak)
    finally:
        server.kill()
        server.wait(timeout=30)
    result["add_10_articles_chroma_server"] = {**min_median(adds), "peak_mib": round(max(peaks))}
    save(f"million-{args.chunks}-server", result)
    print(json.dumps(result["add_10_articles_chroma_server"], indent=1))


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


ASK = "Which former pope was laid to rest this week?"


def timed_ask(root: Path, config: Path) -> float:
    """One whole `newsrag ask` process of the code at ``root``, timed from outside."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "ask", ASK], capture_output=True,
                          text=True, cwd=root, env={**ENV, "PYTHONPATH": str(root)})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"newsrag ask at {root} failed ({proc.returncode}): {proc.stdout[-800:]} {proc.stderr[-2000:]}")
    return wall


def reads_against(args: argparse.Namespace, config: Path, result: dict) -> None:
    """``newsrag ask`` and ``newsrag serve`` until its API answers, from this checkout and from
    ``--reads-before``, alternating, on the same index (both only read it): min and median of ``--runs`` a side
    (bench/out/million-<chunks>-reads.json)."""
    sides = {"this": ROOT, "before": args.reads_before.resolve()}
    for name, timed in (("ask", lambda root: timed_ask(root, config)),
                        ("serve_ready", lambda root: serve_until_ready(config, "/v1/models", root=root))):
        walls: dict[str, list[float]] = {side: [] for side in sides}
        for run in range(args.runs):
            for side, root in (sides.items() if run % 2 == 0 else reversed(sides.items())):
                walls[side].append(timed(root))
            print(f"{name}: this {walls['this'][-1]:.2f} s, before {walls['before'][-1]:.2f} s", flush=True)
        result[name] = {side: {**min_median(w), "code": str(sides[side])} for side, w in walls.items()}
    save(f"million-{args.chunks}-reads", result)
    print(json.dumps({k: result[k] for k in ("ask", "serve_ready")}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, help="config.toml of the built realtimeqa-2023h1 index")
    parser.add_argument("--work", type=Path, required=True, help="where the synthetic index goes (kept)")
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--new", type=Path, default=ROOT.parent / "shared" / "bench" / "realtimeqa-dev" / "corpus.jsonl")
    parser.add_argument("--questions", type=Path,
                        default=ROOT.parent / "shared" / "bench" / "realtimeqa-2023h1" / "questions.jsonl")
    parser.add_argument("--server", action="store_true", help="only the adds, with Chroma behind `chroma run`")
    parser.add_argument("--first", type=int, help="add --new's articles from number 10 * FIRST on")
    parser.add_argument("--before", type=Path, help="another checkout: only the adds are timed, alternating with it")
    parser.add_argument("--before-work", type=Path, help="with --before: a copy of the index, in the layout it reads")
    parser.add_argument("--reads-before", type=Path, metavar="OTHER_CHECKOUT",
                        help="only `newsrag ask` and `serve`, alternating with that checkout on the same index")
    parser.add_argument("--queries-only", action="store_true", help=argparse.SUPPRESS)  # the child of queries()
    args = parser.parse_args()
    config = args.work / "config.toml"
    if args.queries_only:
        print(json.dumps(queries(config, args.questions)))
        return
    result: dict = {"machine": machine(), "target_chunks": args.chunks}
    earlier = OUT / f"million-{args.chunks}.json"
    if (args.work / "index").exists() and earlier.exists():  # measured again on the index built before: keep its build
        result.update({k: v for k, v in json.loads(earlier.read_text()).items()
                       if k in ("build", "first_ingest_after_build_s")})
    if not (args.work / "index").exists():
        if args.source is None:
            parser.error("--source is needed to build the index")
        args.work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        result["build"] = build(args.source, args.work, args.chunks, args.batch)
        result["build"]["seconds"] = round(time.perf_counter() - t0, 1)
        # the first ingest after the build brings the story table up to date (one-off, timed apart)
        empty = args.work / "empty"
        empty.mkdir(exist_ok=True)
        result["first_ingest_after_build_s"] = round(run_newsrag(config, "ingest", str(empty), json_out=False)[1], 1)
    index = args.work / "index"
    result["disk_mib"] = {"all": round(du(index) / 2**20), "chroma": round(du(index / "chroma") / 2**20),
                          "lexical": round(du(index / "bm25") / 2**20)}
    print("disk", result["disk_mib"], flush=True)
    lines = args.new.read_text().splitlines()
    adds, peaks, before = [], [], []
    first = args.first or 0
    while (args.work / f"ten-{first}.jsonl").exists():  # an earlier measurement added those: take the next ones
        first += 1
    if args.server:
        server_adds(args, lines, first, result)
        return
    if args.reads_before:
        reads_against(args, config, result)
        return
    for run in range(first, first + args.runs):
        ten = args.work / f"ten-{run}.jsonl"
        ten.write_text("\n".join(lines[10 * run:10 * run + 10]) + "\n")
        if args.before:  # both sides through the same harness, alternating, the same 10 articles
            wall, summary = timed_ingest(ROOT, config, ten)
            before.append(timed_ingest(args.before.resolve(), args.before_work / "config.toml", ten)[0])
            print(f"add 10 articles: {wall:.2f} s ({summary}); before: {before[-1]:.2f} s", flush=True)
        else:
            out, wall, peak = run_newsrag(config, "ingest", str(ten), json_out=False)
            peaks.append(peak)
            summary = out.strip().splitlines()[-1]
            print(f"add 10 articles: {wall:.2f} s ({summary})", flush=True)
            if " added" not in summary:
                raise RuntimeError(f"{ten} added nothing (an earlier run added its articles): pass another --first")
        adds.append(wall)
    result["add_10_articles"] = {**min_median(adds), **({"peak_mib": round(max(peaks))} if peaks else {})}
    if args.before:
        result["add_10_articles_before"] = {**min_median(before), "code": str(args.before)}
        save(f"million-{args.chunks}-update", result)
        print(json.dumps(result, indent=1))
        return
    result["serve_ready"] = min_median([serve_until_ready(config, "/v1/models") for _ in range(args.runs)])
    print("serve ready", result["serve_ready"], flush=True)
    asks = [run_newsrag(config, "ask", ASK, json_out=False)[1]
            for _ in range(args.runs)]
    result["ask"] = min_median(asks)
    print("ask", result["ask"], flush=True)
    child = subprocess.run([sys.executable, __file__, "--work", str(args.work), "--questions", str(args.questions),
                            "--queries-only"], capture_output=True, text=True, cwd=ROOT, env=ENV)
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-2000:])
    result["retrieval"] = json.loads(child.stdout.strip().splitlines()[-1])
    save(f"million-{args.chunks}", result)
    print(json.dumps({k: v for k, v in result.items() if k != "build"}, indent=1))


if __name__ == "__main__":
    main()
