"""Load test: 20 concurrent chat clients (gradio_client, /answer) for 60 s against `newsrag serve` on
127.0.0.1, while articles are ingested through /ingest_text at the same time. Bounded in time and count;
loopback only. Prints failed requests and latency p50/p95.

    python bench/bench_load.py [--clients 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, free_port, machine, save, wait_until_answers

QUESTIONS = [
    "Why is Putin turning to North Korea for weapons?",
    "What did retired Lt. Gen. Mark Hertling say about Putin?",
    "What did the State Department say about Russia and Cuban fighters?",
    "Which town will host the first Glowfish Festival?",
    "How much did the Port Tessaly bridge repairs cost?",
    "What did the central bank of Sarnia decide?",
    "Why did rail workers in Velmora strike?",
    "What did the observatory on Mount Kell record?",
]
MAX_REQUESTS = 20_000  # a hard bound besides the time limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    from gradio_client import Client

    work = Path(tempfile.mkdtemp(prefix="newsrag-load-"))
    articles = work / "articles"
    shutil.copytree(ROOT / "data" / "articles", articles)
    for f in (ROOT / "tests" / "data" / "articles").iterdir():
        shutil.copy(f, articles / f.name)
    port = free_port()
    config = work / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{articles}"\nindex_dir = "{work / "index"}"\n[ui]\nport = {port}\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "ingest", "-q"], cwd=ROOT, env=env,
                   check=True)
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "--config", str(config), "serve"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answers(url, server, "newsrag serve", 120)
        latencies: list[float] = []
        failures: list[str] = []
        ingests: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def chat(worker: int) -> None:
            client = Client(url, verbose=False)
            i = worker
            while time.monotonic() < stop_at and len(latencies) + len(failures) < MAX_REQUESTS:
                question = QUESTIONS[i % len(QUESTIONS)]
                i += 1
                t = time.perf_counter()
                try:
                    result = client.predict(question=question, api_name="/answer")
                    ok = bool(result.get("text"))
                    with lock:
                        (latencies.append((time.perf_counter() - t) * 1000) if ok else failures.append("empty"))
                except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}"[:200])

        def ingest() -> None:
            client = Client(url, verbose=False)
            n = 0
            while time.monotonic() < stop_at - 5:
                n += 1
                try:
                    _, summary, *_ = client.predict(
                        title=f"Load test bulletin {n}", day="2024-05-01", outlet="Load Wire", url="",
                        text=f"Bulletin {n}: the harbour of Orvik handled {1000 + n} ships this spring, officials said.",
                        api_name="/ingest_text")
                    ingests.append(summary)
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"ingest {type(exc).__name__}: {exc}"[:200])
                time.sleep(2)

        threads = [threading.Thread(target=chat, args=(w,)) for w in range(args.clients)]
        threads.append(threading.Thread(target=ingest))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 120)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    ordered = sorted(latencies)
    result = {
        "machine": machine(), "clients": args.clients, "seconds": args.seconds, "requests": len(latencies),
        "failed": len(failures), "ingests": len(ingests),
        "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
        "throughput_rps": round(len(latencies) / args.seconds, 2), "first_failures": failures[:5],
    }
    save("load", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
