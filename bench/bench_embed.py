"""Embedding backends on the realtimeqa-dev chunks: speed of each, and how closely the int8 model
agrees with the float one (cosine per chunk and per question).

    python bench/bench_embed.py [--corpus PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import CORPUS, OUT, QUESTIONS, machine

from ingest.chunk import Chunker
from rag.config import ChunkSettings, EmbedSettings
from rag.embed import Embedder, OnnxEmbedder, get_embedder
from rag.schema import Article


def chunk_texts(corpus: str, embedder: Embedder) -> list[str]:
    chunker = Chunker(ChunkSettings(), embedder.count_tokens, embedder.max_tokens, embedder.count_tokens_batch)
    rows = [json.loads(line) for line in Path(corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    articles = [Article(key=str(i), title=r.get("title", ""), text=r["text"], source="bench") for i, r in enumerate(rows)]
    chunker.warm([a.text for a in articles])
    return [c.embed_text for a in articles for c in chunker.split(a, "bench")]


def timed(embedder: Embedder, texts: list[str]) -> tuple[np.ndarray, float]:
    embedder.embed_documents(texts[:8])  # load the model outside the timing
    start = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    return vectors, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--limit", type=int, default=0, help="only the first N chunks")
    args = parser.parse_args()
    exact = get_embedder(EmbedSettings(quantize=False))
    fast = get_embedder(EmbedSettings())
    assert isinstance(fast, OnnxEmbedder) and fast.precision == "int8", "the int8 model was rejected on this machine"
    texts = chunk_texts(args.corpus, exact)
    texts = texts[: args.limit] if args.limit else texts
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    tokens = sum(exact.count_tokens(t) + 2 for t in texts)
    a, float_s = timed(exact, texts)
    b, int8_s = timed(fast, texts)
    chunks = np.sum(a * b, axis=1)
    asked = np.sum(exact.embed_documents(questions) * fast.embed_documents(questions), axis=1)
    result = {
        "machine": machine(), "chunks": len(texts), "tokens": tokens,
        "float_s": round(float_s, 1), "int8_s": round(int8_s, 1), "speedup": round(float_s / int8_s, 2),
        "float_chunks_per_s": round(len(texts) / float_s, 1), "int8_chunks_per_s": round(len(texts) / int8_s, 1),
        "chunk_cosine": {"mean": round(float(chunks.mean()), 4), "p1": round(float(np.percentile(chunks, 1)), 4),
                         "min": round(float(chunks.min()), 4), "below_0.99": int((chunks < 0.99).sum())},
        "question_cosine": {"mean": round(float(asked.mean()), 4), "min": round(float(asked.min()), 4)},
    }
    print(f"{'float (ONNX fp32)':>24}: {len(texts)} chunks ({tokens} tokens) in {float_s:.1f} s, "
          f"{result['float_chunks_per_s']} chunks/s")
    print(f"{'int8':>24}: {int8_s:.1f} s, {result['int8_chunks_per_s']} chunks/s: {result['speedup']}x")
    c, q = result["chunk_cosine"], result["question_cosine"]
    print(f"{'int8 vs float cosine':>24}: chunks mean {c['mean']}, p1 {c['p1']}, min {c['min']} "
          f"({c['below_0.99']} below 0.99); questions mean {q['mean']}, min {q['min']}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "embed.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
