"""Corroboration and disagreements on the extractive answers to a question set: how many answers get a disagreement
(each printed, to be judged by hand), how many outlets the citations count, and what it adds to each answer.

    python bench/bench_corroborate.py [--config /tmp/idx/dev.toml] [--questions QUESTIONS.jsonl]

The config names an index already built from the questions' corpus (``newsrag --config ... ingest``). Writes
bench/out/corroborate-CONFIG.json (CONFIG: the config file's name without .toml).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

from common import QUESTIONS, ROOT, machine, save

sys.path.insert(0, str(ROOT))

from rag.config import load_settings  # noqa: E402
from rag.evaluate import load_questions, percentile  # noqa: E402
from rag.outputs import disagreement_text  # noqa: E402
from rag.service import Done, Engine, ask  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=Path("/tmp/idx/dev.toml"))
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    args = parser.parse_args()
    engine = Engine(load_settings(args.config, env={}))
    engine.warm()
    added, shares, outlets, answered, with_disagreement = [], [], Counter(), 0, []
    for q in load_questions(args.questions):
        answer = next(e.answer for e in ask(q.question, engine=engine, provider="extractive", today=q.date)
                      if isinstance(e, Done))
        if answer.refused:
            continue
        answered += 1
        ms = answer.timings.get("corroborate_ms", 0.0)
        added.append(ms)
        shares.append(ms / answer.timings["total_ms"])
        outlets.update(len(c.outlets) for c in answer.citations)
        if answer.disagreements:
            with_disagreement.append(q.id)
            print(f"\n## {q.id}: {q.question}\n{answer.text}")
            for d in answer.disagreements:
                print(f"  {disagreement_text(d)}")
                for v in d.values:
                    print(f"    [{v.citation or '-'}] {v.outlet} {v.published}: {v.sentence}")
    result = {"machine": machine(), "answers": answered, "with_disagreement": len(with_disagreement),
              "disagreement_ids": with_disagreement,
              "citations_by_outlet_count": dict(sorted(outlets.items())),
              "corroborate_p50_ms": round(statistics.median(added), 2),
              "corroborate_p95_ms": round(percentile(added, 95), 2),
              "share_of_answer_p50": round(statistics.median(shares), 4)}
    print(result)
    save(f"corroborate-{args.config.stem}", result)


if __name__ == "__main__":
    main()
