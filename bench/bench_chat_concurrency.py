"""What newsrag itself adds to an answer on the OpenAI-compatible path (issue 16): 20 concurrent chats, threads in
one process each calling ``rag.service.answer`` for a fixed number of realtimeqa-dev questions, against a scripted
OpenAI-compatible server on 127.0.0.1 (tests/scripted_llm.py) that replies at once, streamed, with one cited
sentence: the first sentence of passage [1] of the prompt, so the answer passes verification (a fixed sentence
would be judged unsupported and fall back to the extractive answerer, which would be measured instead).

    python bench/bench_chat_concurrency.py [--index DIR] [--clients 20] [--per-client 5]

Every question is answered once first (warm-up: the embedder, the index and the sentence cache), then the same
questions one at a time (1 client) for reference, then by the concurrent clients. Reports p50/p95 of the whole answer
(wall clock around ``answer``) and the share of the summed time in each of ``Answer.timings``' stages: retrieve,
verify, and generate (waiting on the server, including the HTTP client and the stream parsing). The machine is
shared: the load average is recorded. Writes bench/out/chat_concurrency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench_llm import build_index, distinct_questions, pct
from common import ROOT, machine, save

sys.path.insert(0, str(ROOT))

from rag.config import load_settings  # noqa: E402
from rag.service import answer  # noqa: E402
from tests.scripted_llm import ScriptedLLM  # noqa: E402

SOURCE_ONE = re.compile(r'<source id="1"[^>]*>\n(.+?)(?<=[.!?])\s', re.S)


class QuotingReplies:
    """Set as a ScriptedLLM's ``replies``: whatever index is asked for, a sentence quoting passage [1] of the request
    just received (ScriptedLLM appends the request and picks its reply under one lock)."""

    def __init__(self, llm: ScriptedLLM) -> None:
        self.llm = llm

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, index: int) -> str:
        body = self.llm.requests[-1]
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        match = SOURCE_ONE.search(text)
        return (match.group(1).strip() if match else "The indexed articles don't cover this.") + " [1]"


def run(questions: list[dict], clients: int, per_client: int, settings: Any) -> dict[str, Any]:
    jobs = [questions[(c * per_client + k) % len(questions)] for c in range(clients) for k in range(per_client)]
    results: list[tuple[float, dict[str, float], bool]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for q in jobs[c * per_client:(c + 1) * per_client]:
            t = time.perf_counter()
            try:
                a = answer(q["question"], settings=settings, today=date.fromisoformat(q["date"]))
                wall = time.perf_counter() - t
                with lock:
                    results.append((wall * 1000, dict(a.timings), bool(a.refused)))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    walls = [w for w, _, _ in results]
    served = [(w, t) for w, t, _ in results if "generate_ms" in t]  # refusals never reach the server
    total = sum(t["total_ms"] for _, t in served) or 1.0
    shares = {k: round(sum(t.get(k, 0.0) for _, t in served) / total, 3)
              for k in ("retrieve_ms", "generate_ms", "verify_ms")}
    shares["other_ms"] = round(1 - sum(shares.values()), 3)  # rewrite check, refusal check, events, the rest
    return {"clients": clients, "answers": len(results), "failed": len(failures), "first_failures": failures[:3],
            "refused": sum(r for _, _, r in results), "answer_p50_ms": round(pct(walls, 0.5), 1),
            "answer_p95_ms": round(pct(walls, 0.95), 1), "answers_per_s": round(len(results) / elapsed, 2),
            "served": len(served), "served_p50_ms": round(pct([w for w, _ in served], 0.5), 1),
            "served_p95_ms": round(pct([w for w, _ in served], 0.95), 1),
            "served_share_of_total_ms": shares,
            "served_stage_p50_ms": {k: round(pct([t.get(k, 0.0) for _, t in served], 0.5), 1)
                                    for k in ("retrieve_ms", "generate_ms", "verify_ms", "total_ms")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="an index of realtimeqa-dev built with newsrag ingest")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=5)
    args = parser.parse_args()
    questions = distinct_questions()
    questions = questions[:20]
    base = load_settings(ROOT / "config.toml", env={})
    work = Path(tempfile.mkdtemp(prefix="newsrag-conc-"))
    try:
        index = args.index or build_index(questions, work, base)
        with ScriptedLLM(["unused"]) as llm:
            llm.replies = QuotingReplies(llm)  # type: ignore[assignment]
            settings = base.replace(paths={"index_dir": str(index)},
                                    llm={"provider": "openai", "base_url": llm.base_url, "model": "scripted",
                                         "api_key_env": "", "timeout": 60.0})
            warm = run(questions, 1, len(questions), settings)  # every question once: models, index, sentence cache
            result: dict[str, Any] = {"machine": machine(), "load_before": [round(x, 2) for x in os.getloadavg()],
                                      "how": "threads in one process calling rag.service.answer"}
            result["warm_up"] = {k: warm[k] for k in ("answers", "answer_p50_ms", "answer_p95_ms")}
            result["sequential"] = run(questions, 1, args.clients * args.per_client, settings)
            result["concurrent"] = run(questions, args.clients, args.per_client, settings)
            result["server_requests"] = len(llm.requests)
            result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save("chat_concurrency", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
