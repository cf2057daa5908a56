"""Precision and recall of figures over time against hand labels (tests/data/figures_h1.jsonl).

    python bench/bench_figures.py --config /tmp/idx/h1c.toml [--labels FILE] [--stories 25] [--rules subject,...]

The config names an index of the realtimeqa-2023h1 articles (``newsrag ingest``). For the largest ``--stories``
stories (as ``newsrag stories`` lists them) the figures are recomputed from the index with each rule set of
``rag.figures`` (none, each rule alone, the default, the default without each of its rules, all; or only
``--rules``) and scored against the labels:

- precision: the listed figures that follow one count (the labels' rule, re-applied to the values a figure
  lists now: one count tag holds more than half its values and two distinct values on different days);
- recall: of the labelled figures that follow one count, those still listed as one that does (it holds two of
  that count's values), and of their values, those still listed in a figure that follows one count.

A value is matched to its label by story, article id, sentence start and value; an unlabelled value (a rule that
lists something no label saw) counts as a count of its own and is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import load_settings  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.figures import ALL_RULES, RULES, Figure  # noqa: E402
from rag.store import get_store  # noqa: E402
from rag.stories import listing, load_story_table  # noqa: E402
from rag.timeline import figures_of, timeline  # noqa: E402

Label = tuple[str, str, int, float]  # story, article id, sentence start, value


def follows_one_count(tags: list[tuple[str | None, str, float]]) -> str | None:
    """The count tag that holds more than half of ``tags`` (tag, day, value) and two distinct values on two
    days, else None."""
    groups = Counter(t for t, _, _ in tags if t)
    for tag, n in groups.items():
        mine = [(day, value) for t, day, value in tags if t == tag]
        if 2 * n > len(tags) and len({v for _, v in mine}) >= 2 and len({d for d, _ in mine}) >= 2:
            return tag
    return None


def load_labels(path: Path) -> tuple[dict[Label, str | None], list[dict]]:
    """Each labelled value's count tag (namespaced by story), and the labelled figures."""
    tags: dict[Label, str | None] = {}
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "rule" in row:
            continue
        rows.append(row)
        for v in row["values"]:
            tag = f"{row['story']}: {v['count']}" if v["count"] else None
            tags[(row["story"], v["article_id"], v["start"], v["value"])] = tag
    return tags, rows


def score(figures: dict[str, list[Figure]], tags: dict[Label, str | None], rows: list[dict]) -> dict:
    """Precision, recall of the good labelled figures and of their values, for ``figures`` by story."""
    good_listed, listed, unlabelled = 0, 0, 0
    kept: set[Label] = set()  # values listed in a figure that follows one count
    counts_kept: Counter[str] = Counter()  # per count tag, its values listed in a figure following that tag
    for story, figs in figures.items():
        for figure in figs:
            listed += 1
            seen = []
            for v in figure.values:
                label = (story, v.article_id, v.start, v.value)
                if label not in tags:
                    unlabelled += 1
                seen.append((tags.get(label), v.published.isoformat(), v.value, label))
            tag = follows_one_count([(t, d, x) for t, d, x, _ in seen])
            if tag:
                good_listed += 1
                for t, _, _, label in seen:
                    if t == tag:
                        kept.add(label)
                        counts_kept[tag] += 1
    good_rows = [r for r in rows if r["same_count"]]
    recalled, values, values_kept = 0, 0, 0
    for row in good_rows:
        tag = follows_one_count([(v["count"], v["published"], v["value"]) for v in row["values"]])
        full = f"{row['story']}: {tag}"
        mine = [(row["story"], v["article_id"], v["start"], v["value"]) for v in row["values"] if v["count"] == tag]
        values += len(mine)
        values_kept += sum(label in kept for label in mine)
        recalled += sum(label in kept for label in mine) >= 2 and counts_kept[full] >= 2
    return {"listed": listed, "good": good_listed, "precision": good_listed / listed if listed else 0.0,
            "recalled": recalled, "of": len(good_rows), "values_kept": values_kept, "values": values,
            "unlabelled_values": unlabelled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the config of an index of the h1 articles")
    parser.add_argument("--labels", type=Path, default=ROOT / "tests" / "data" / "figures_h1.jsonl")
    parser.add_argument("--stories", type=int, default=25, help="the largest N stories (default 25)")
    parser.add_argument("--rules", help="only this comma-separated rule set (default: none, each alone, the default, "
                        "the default without each, all)")
    args = parser.parse_args()
    settings = load_settings(args.config)
    store, table = get_store(settings, get_embedder(settings.embed).name), load_story_table(settings)
    found, _ = listing(settings, store)
    stories = [s.id for s in found if len(s.articles) >= 2][: args.stories]
    events = {story: timeline(store, table, story) for story in stories}
    tags, rows = load_labels(args.labels)
    if args.rules is not None:
        sets = [tuple(r for r in args.rules.split(",") if r)]
    else:
        sets = [(), *((r,) for r in ALL_RULES), RULES, *(tuple(x for x in RULES if x != r) for r in RULES), ALL_RULES]
    for rules in dict.fromkeys(sets):
        figures = {story: figures_of(store, events[story], rules=rules) for story in stories}
        s = score(figures, tags, rows)
        name = "+".join(rules) or "none"
        default = " (default)" if tuple(rules) == tuple(RULES) else ""
        print(f"{name + default:32} precision {s['good']}/{s['listed']} = {s['precision']:.2f}  "
              f"recall {s['recalled']}/{s['of']} figures, {s['values_kept']}/{s['values']} values  "
              f"({s['unlabelled_values']} unlabelled values)")


if __name__ == "__main__":
    main()
