"""The lexical index's options side by side, on the chunks of a built index: the full rebuild newsrag did
before (bm25s over every chunk, after every ingest), newsrag's segmented index (rag/lexical.py), and
tantivy (a Lucene-style engine: segments, BM25 with k1 1.2, one writer, many readers).

For each: the time to index all chunks but the last 70, the time to add those 70 (an ingest of about 10
articles) and commit, BM25-only article Hit@5 over the questions (each question's top 50 chunks, its
first 5 distinct articles against the gold URLs), and query p50/p95. In-process timings (a breakdown of
one step, not a headline). Needs the `bench` extra (tantivy).

    python bench/bench_lexical.py --config DEV.toml --questions DEV/questions.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, machine, save

sys.path.insert(0, str(ROOT))

from rag.config import load_settings  # noqa: E402
from rag.evaluate import percentile  # noqa: E402
from rag.lexical import LexicalIndex, tokens  # noqa: E402
from rag.store import get_store  # noqa: E402

UPDATE = 70  # chunks in the update: about 10 articles


class Part:
    """Some of the chunks, as the lexical index reads a store."""

    def __init__(self, chunks: list[dict]) -> None:
        self.chunks, self.by_id = chunks, {c["id"]: c for c in chunks}

    def iter_chunks(self):
        return iter(self.chunks)

    def get_chunks(self, ids):
        return [(i, self.by_id[i]["document"], self.by_id[i]["metadata"]) for i in ids if i in self.by_id]


def norm(url: str) -> str:
    return url.split("#")[0].rstrip("/")


def quality(name: str, search, urls: list[str], questions: list[dict]) -> dict:
    hits, ms = 0, []
    for q in questions:
        start = time.perf_counter()
        rows = search(q["question"], 50)
        ms.append((time.perf_counter() - start) * 1000)
        seen: list[str] = []
        for row in rows:
            if (u := norm(urls[row])) not in seen:
                seen.append(u)
            if len(seen) == 5:
                break
        hits += bool({norm(u) for u in q["gold_urls"]} & set(seen))
    out = {"hit5_articles": round(hits / len(questions), 3), "query_p50_ms": round(statistics.median(ms), 2),
           "query_p95_ms": round(percentile(ms, 95), 2)}
    print(name, out, flush=True)
    return out


def top(scores: np.ndarray, k: int) -> list[int]:
    k = min(k, int((scores > 0).sum()))
    if not k:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    return list(best[np.argsort(-scores[best])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    args = parser.parse_args()
    store = get_store(load_settings(args.config))
    chunks = list(store.iter_chunks())
    urls = [c["metadata"].get("url", "") for c in chunks]
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    start = time.perf_counter()
    docs = [tokens(f"{c['metadata'].get('title', '')}\n{c['document'] or ''}") or ["_"] for c in chunks]
    split = time.perf_counter() - start
    base, everything = Part(chunks[:-UPDATE]), Part(chunks)
    # bm25s and tantivy are given the words; newsrag's build splits them itself, this long:
    result: dict = {"machine": machine(), "chunks": len(chunks), "update_chunks": UPDATE, "split_words_s": round(split, 3)}

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)

    def bm25s_index(n: int):
        vocab: dict[str, int] = {}
        corpus = [np.array([vocab.setdefault(w, len(vocab)) for w in d], dtype=np.int32) for d in docs[:n]]
        model = bm25s.BM25()
        model.index((corpus, vocab), show_progress=False)
        return model

    start = time.perf_counter()
    model = bm25s_index(len(chunks))
    rebuild = time.perf_counter() - start

    def bm25s_search(query: str, k: int) -> list[int]:
        known = [w for w in tokens(query) if w in model.vocab_dict]
        return top(np.asarray(model.get_scores(known)), k) if known else []

    result["bm25s full rebuild"] = {"update_s": round(rebuild, 3), "note": "words given; reading and splitting the "
                                    "chunks again is not counted", **quality("bm25s", bm25s_search, urls, questions)}

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "segments"
        start = time.perf_counter()
        first = LexicalIndex.build(base, "v0")
        first.save(folder)
        built = time.perf_counter() - start
        start = time.perf_counter()
        ours = first.updated(everything, [c["id"] for c in chunks[-UPDATE:]], [], "v1")
        ours.save(folder)
        update = time.perf_counter() - start
        row = {cid: i for i, cid in enumerate(c["id"] for c in chunks)}
        order = np.array([row[cid] for cid in ours.chunk_ids])

        def ours_search(query: str, k: int) -> list[int]:
            return [int(order[i]) for i in top(ours.scores(query), k)]

        result["newsrag segments"] = {"build_s": round(built, 3), "update_s": round(update, 3),
                                      **quality("newsrag segments", ours_search, urls, questions)}

        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("row", stored=True, fast=True)
        builder.add_text_field("body", stored=False, tokenizer_name="whitespace", index_option="freq")
        builder.add_integer_field("date", indexed=True, fast=True)
        builder.add_text_field("outlet", tokenizer_name="raw")
        schema = builder.build()
        path = Path(tmp) / "tantivy"
        path.mkdir()
        index = tantivy.Index(schema, path=str(path))

        def add(rows: range) -> None:
            writer = index.writer(heap_size=100_000_000, num_threads=1)
            for i in rows:
                meta = chunks[i]["metadata"]
                writer.add_document(tantivy.Document(row=i, body=" ".join(docs[i]),
                                                     date=int(meta.get("published_key", 0) or 0),
                                                     outlet=str(meta.get("outlet_key", ""))))
            writer.commit()
            writer.wait_merging_threads()

        start = time.perf_counter()
        add(range(len(chunks) - UPDATE))
        built = time.perf_counter() - start
        start = time.perf_counter()
        add(range(len(chunks) - UPDATE, len(chunks)))
        update = time.perf_counter() - start
        index.reload()
        searcher = index.searcher()

        def tantivy_search(query: str, k: int) -> list[int]:
            words = tokens(query)
            if not words:
                return []
            clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", w)) for w in words]
            return [searcher.doc(address)["row"][0]
                    for _, address in searcher.search(tantivy.Query.boolean_query(clauses), k).hits]

        result["tantivy"] = {"build_s": round(built, 3), "update_s": round(update, 3),
                             **quality("tantivy", tantivy_search, urls, questions)}
        shutil.rmtree(path)
    for name in ("bm25s full rebuild", "newsrag segments", "tantivy"):
        print(f"{name}: {result[name]}")
    save(f"lexical-{args.config.stem}", result)


if __name__ == "__main__":
    main()
