"""Embedding backends on the realtimeqa-dev chunks: speed of each, and how closely the int8 model
agrees with the float one (cosine per chunk and per question).

    python bench/bench_embed.py [--corpus PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import CORPUS, QUESTIONS, machine, save

from ingest.chunk import Chunker
from ingest.load import load_file
from rag.config import ChunkSettings, EmbedSettings
from rag.embed import Embedder, OnnxEmbedder, get_embedder
from rag.evaluate import load_questions


def chunk_texts(corpus: Path, embedder: Embedder) -> list[str]:
    """The texts an ingest of ``corpus`` embeds, loaded and chunked as newsrag does it."""
    chunker = Chunker(ChunkSettings(), embedder.count_tokens, embedder.max_tokens, embedder.count_tokens_batch)
    articles = load_file(corpus, max_bytes=1 << 40).articles
    chunker.warm([a.text for a in articles])
    return [c.embed_text for a in articles for c in chunker.split(a, "bench")]


def timed(embedder: Embedder, texts: list[str]) -> tuple[np.ndarray, float]:
    embedder.embed_documents(texts[:8])  # load the model outside the timing
    start = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    return vectors, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="only the first N chunks")
    args = parser.parse_args()
    exact = get_embedder(EmbedSettings(quantize=False))
    fast = get_embedder(EmbedSettings())
    assert isinstance(fast, OnnxEmbedder) and fast.precision == "int8", "the int8 model was rejected on this machine"
    texts = chunk_texts(args.corpus, exact)
    texts = texts[: args.limit] if args.limit else texts
    questions = [q.question for q in load_questions(QUESTIONS)]
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
    save("embed", result)


if __name__ == "__main__":
    main()
