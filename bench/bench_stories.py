"""Story clustering against hand labels, and the ingest time story assignment adds.

Quality: the articles of tests/data/stories_h1.jsonl (195 of realtimeqa-2023h1, see stories_h1.md) are
ingested in corpus order into a throwaway index with the shipped settings; each article's story is read
back from its chunks' metadata and scored with B-cubed precision, recall and F1 against the labels, on
the tune half, the test half and all. Then the same incremental assignment (rag.stories.StoryTable) is
replayed over the features read back from that index for a grid of thresholds and weights: the best F1
on the tune half picks the setting, reported on the test half. The baseline, tuned the same way: an
article joins the story of the earlier article (within the same date window) whose title has the most
content words in common with its own (Jaccard), if that reaches a threshold; else it starts a story.

Also: the embedding alone and every article alone, pairwise precision/recall/F1 beside B-cubed, the ten
best settings on the tune half with their test F1, and which gold stories the shipped setting splits or
merges (``errors``).

Time: whole-process `newsrag -v ingest` of the first ``--articles`` articles of a corpus (realtimeqa-dev
by default) into a fresh index with [stories] enabled = true and false, alternated, ``--runs`` times each
(min and median), plus the share of each run with stories spent in story code (from its ``-v`` log line).

    python bench/bench_stories.py [--runs 3] [--articles 100] [--corpus PATH] [--work DIR] [--skip-time]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
from common import CORPUS, ROOT, machine, save, write_config

sys.path.insert(0, str(ROOT))

from rag.stories import Features, Params, StoryTable, jaccard  # noqa: E402

LABELS = ROOT / "tests" / "data" / "stories_h1.jsonl"
H1 = ROOT.parent / "shared" / "bench" / "realtimeqa-2023h1" / "corpus.jsonl"


def bcubed(predicted: dict[str, str], gold: dict[str, str]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering over the items of ``gold``."""
    items = list(gold)
    by_pred: dict[str, set[str]] = {}
    by_gold: dict[str, set[str]] = {}
    for item in items:
        by_pred.setdefault(predicted[item], set()).add(item)
        by_gold.setdefault(gold[item], set()).add(item)
    precision = recall = 0.0
    for item in items:
        same_pred, same_gold = by_pred[predicted[item]], by_gold[gold[item]]
        shared = len(same_pred & same_gold)
        precision += shared / len(same_pred)
        recall += shared / len(same_gold)
    p, r = precision / len(items), recall / len(items)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def replay(order: Sequence[str], feats: dict[str, Features], params: Params) -> dict[str, str]:
    table = StoryTable(params)
    return {aid: table.assign(aid, "", feats[aid]) for aid in order}


def with_copies(predicted: dict[str, str], copies: dict[str, str]) -> dict[str, str]:
    return {**predicted, **{copy: predicted[original] for copy, original in copies.items()}}


def title_baseline(order: Sequence[str], feats: dict[str, Features], threshold: float, window: int) -> dict[str, str]:
    story: dict[str, str] = {}
    for i, aid in enumerate(order):
        best, score = aid, threshold
        for other in order[:i]:
            a, b = feats[aid], feats[other]
            if a.day and b.day and abs(a.day - b.day) > window:
                continue
            s = jaccard(a.title, b.title)
            if s >= score:
                best, score = story[other], s
        story[aid] = best
    return story


def pairwise(predicted: dict[str, str], gold: dict[str, str]) -> tuple[float, float, float]:
    """Precision, recall and F1 over pairs of articles put in one story."""
    items = sorted(gold)
    pairs = [(a, b) for i, a in enumerate(items) for b in items[i + 1 :]]
    same_pred = {p for p in pairs if predicted[p[0]] == predicted[p[1]]}
    same_gold = {p for p in pairs if gold[p[0]] == gold[p[1]]}
    both = len(same_pred & same_gold)
    p = both / len(same_pred) if same_pred else 1.0
    r = both / len(same_gold) if same_gold else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def scores(predicted: dict[str, str], gold: dict[str, str], split: dict[str, str]) -> dict[str, list[float]]:
    """B-cubed [precision, recall, F1] per half and over all, and the same for pairs (``pairs_*``)."""
    out = {}
    for name in ("tune", "test", "all"):
        items = {a: g for a, g in gold.items() if name == "all" or split[a] == name}
        out[name] = [round(x, 3) for x in bcubed(predicted, items)]
        out[f"pairs_{name}"] = [round(x, 3) for x in pairwise(predicted, items)]
    return out


def errors(predicted: dict[str, str], gold: dict[str, str]) -> dict[str, dict[str, list[int] | list[str]]]:
    """Gold stories split over several predicted ones (their part sizes), and predicted stories that join
    several gold ones (their labels)."""
    parts: dict[str, Counter[str]] = {}
    mixed: dict[str, set[str]] = {}
    for item, label in gold.items():
        parts.setdefault(label, Counter())[predicted[item]] += 1
        mixed.setdefault(predicted[item], set()).add(label)
    return {"split": {label: sorted(c.values(), reverse=True) for label, c in parts.items() if len(c) > 1},
            "merged": {story: sorted(labels) for story, labels in mixed.items() if len(labels) > 1}}


def quality(work: Path | None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from ingest.index import ingest_paths
    from rag.config import PathsSettings, Settings
    from rag.embed import get_embedder
    from rag.store import get_store
    from rag.stories import STORY_KEY, features

    labels = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    wanted = {row["id"]: row for row in labels}
    rows = [r for line in H1.read_text().splitlines() if (r := json.loads(line))["id"] in wanted]  # corpus order
    with tempfile.TemporaryDirectory() as scratch:
        tmp = str(work or scratch)  # --work keeps the index: a second run re-reads it unchanged
        Path(tmp).mkdir(parents=True, exist_ok=True)
        corpus = Path(tmp) / "labelled.jsonl"
        corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
        settings = Settings(paths=PathsSettings(articles_dir=Path(tmp), index_dir=Path(tmp) / "index"), base_dir=Path(tmp))
        embedder = get_embedder(settings.embed)
        report = ingest_paths([corpus], settings, embedder=embedder)
        assert len(report.items) == len(rows), "one report item per corpus line, in order"
        by_url = {item.article_id: r["id"] for item, r in zip(report.items, rows)}
        store = get_store(settings, embedder.name)
        records = store.records()
        order = [rid for item in report.items if item.outcome in ("added", "unchanged") and (rid := by_url.get(item.article_id))]
        chunks = store.story_chunks([item.article_id for item in report.items if item.outcome in ("added", "unchanged")])
        shipped: dict[str, str] = {}
        copies: dict[str, str] = {}  # alias's label id -> its original's
        feats: dict[str, Features] = {}
        for item in report.items:  # an exact copy (alias) is in its original's story, as in the index
            record = records.get(item.article_id)
            if record is not None and record.status == "alias" and record.alias_of in chunks:
                copies[by_url[item.article_id]] = by_url[record.alias_of]
        for aid, found in chunks.items():
            label_id = by_url[aid]
            shipped[label_id] = str(found[0][2].get(STORY_KEY))
            rec = records[aid]
            feats[label_id] = features(np.stack([v for v, _, _ in found]), rec.title,
                                       [t for _, t, _ in found], date.fromisoformat(rec.published) if rec.published else None)
        outcomes = Counter(item.outcome for item in report.items)
    gold = {r["id"]: r["story"] for r in labels if r["id"] in feats or r["id"] in copies}
    shipped.update({copy: shipped[original] for copy, original in copies.items()})
    split = {r["id"]: r["split"] for r in labels}
    result: dict = {"articles": len(gold), "ingest": dict(outcomes), "labelled": len(labels),
                    "gold_stories": len(set(gold.values())), "shipped": scores(shipped, gold, split),
                    "shipped_stories": len({shipped[a] for a in gold}),
                    "shipped_params": vars(Params(threshold=settings.stories.threshold,
                                                  window_days=settings.stories.window_days))}
    result["errors"] = errors(shipped, gold)
    result["singletons"] = scores({a: a for a in gold}, gold, split)
    tune = {a: g for a, g in gold.items() if split[a] == "tune"}

    grid = []
    for threshold, ew, tw, linkage in itertools.product([x / 20 for x in range(8, 31)], [0.0, 0.25, 0.5, 1.0],
                                                        [0.0, 0.25, 0.5, 1.0], ["average", "single"]):
        params = Params(threshold=threshold, entity_weight=ew, title_weight=tw, linkage=linkage)
        predicted = with_copies(replay(order, feats, params), copies)
        grid.append((bcubed(predicted, tune)[2], params, predicted))
    grid.sort(key=lambda g: -g[0])  # stable: ties keep the grid's order
    _, best, predicted = grid[0]
    result["tuned"] = {"params": vars(best), **scores(predicted, gold, split)}
    result["tuned_top10"] = [{"params": vars(p), "tune_f1": round(f, 3), "test_f1": scores(pr, gold, split)["test"][2]}
                             for f, p, pr in grid[:10]]
    cos_only = [g for g in grid if g[1].entity_weight == 0 and g[1].title_weight == 0 and g[1].linkage == "average"]
    _, cparams, cpred = max(cos_only, key=lambda g: g[0])
    result["embedding_only"] = {"params": vars(cparams), **scores(cpred, gold, split)}
    base = []
    for threshold in [x / 20 for x in range(1, 20)]:
        predicted = with_copies(title_baseline(order, feats, threshold, 7), copies)
        base.append((bcubed(predicted, tune)[2], threshold, predicted))
    _, bthreshold, bpred = max(base, key=lambda g: g[0])
    result["title_baseline"] = {"threshold": bthreshold, **scores(bpred, gold, split)}
    return result


def ingest_child(config: Path, corpus: Path) -> tuple[float, float, float, dict]:
    """``newsrag -v ingest`` in a child: (wall seconds, the run's own seconds, seconds in story code, totals)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "-v", "ingest", "--json",
                           str(corpus)], capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"newsrag ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    found = re.search(r"stories took ([0-9.]+) s of this run's ([0-9.]+) s", proc.stderr)
    story, run = (float(found.group(1)), float(found.group(2))) if found else (0.0, 0.0)
    return wall, run, story, json.loads(proc.stdout)["totals"]


def overhead(corpus: Path, runs: int, articles: int) -> dict:
    """Whole-process ingest of the first ``articles`` articles of ``corpus`` into a fresh index, with and
    without stories, alternated; and the share of the runs with stories spent in story code."""
    seconds: dict[str, list[float]] = {"with": [], "without": []}
    shares: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "corpus.jsonl"
        part.write_text("".join(corpus.read_text().splitlines(keepends=True)[:articles]))
        for k in range(runs):
            for name in ("without", "with") if k % 2 == 0 else ("with", "without"):
                folder = Path(tmp) / f"{name}{k}"
                config = write_config(folder, ingest={"max_file_mb": 500.0}, stories={"enabled": name == "with"})
                wall, run, story, totals = ingest_child(config, part)
                seconds[name].append(wall)
                if name == "with":
                    shares.append(story / run)
                print(f"run {k + 1} {name:7} stories: {wall:.1f} s, story code {story:.3f} s ({totals})", file=sys.stderr)
    result: dict = {"corpus": str(corpus), "articles": articles, "runs": runs}
    for name, values in seconds.items():
        result[name] = {"min": round(min(values), 2), "median": round(statistics.median(values), 2),
                        "all": [round(v, 2) for v in values]}
    result["added_min"] = round(result["with"]["min"] / result["without"]["min"] - 1, 4)
    result["added_median"] = round(result["with"]["median"] / result["without"]["median"] - 1, 4)
    result["story_code_share"] = [round(x, 4) for x in shares]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the corpus the ingest time is measured on")
    parser.add_argument("--articles", type=int, default=488, help="ingest the first N articles of the corpus "
                                                                  "(default: all 488 of realtimeqa-dev)")
    parser.add_argument("--skip-time", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--work", type=Path, help="keep the labelled articles' index in this folder (reused if there)")
    args = parser.parse_args()
    result: dict = {"machine": machine()}
    if not args.skip_quality:
        result["quality"] = quality(args.work)
        print(json.dumps(result["quality"], indent=2))
    if not args.skip_time:
        result["time"] = overhead(args.corpus, args.runs, args.articles)
        print(json.dumps(result["time"], indent=2))
    save("stories", result)


if __name__ == "__main__":
    main()
