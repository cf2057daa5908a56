"""``newsrag``: ingest | ask | serve | eval | stats.

Thin: parse arguments, call the library, print. Heavy modules (torch, chromadb,
gradio) are imported inside the command that needs them, so ``newsrag --help``
is instant. This is the one module under ``rag/`` that reaches ``ingest`` and
``ui``: it is an edge, like the UI.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from rag.config import Settings, load_settings
from rag.errors import ConfigError, NewsragError

log = logging.getLogger("newsrag")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- ingest -----------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.index import ingest_paths
    from rag.schema import ArticleReport

    paths = args.paths or [str(settings.articles_dir)]
    bar: Any = None

    def progress(p: Any) -> None:
        nonlocal bar
        if args.json or args.quiet:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=p.files_total, unit="file", desc="ingest", file=sys.stderr, dynamic_ncols=True)
        bar.n = p.files_done
        bar.set_postfix(articles=p.articles_done, chunks=p.chunks_embedded, refresh=False)
        bar.refresh()

    def show(item: ArticleReport) -> None:
        if args.json or item.outcome == "unchanged" or (args.quiet and item.outcome != "failed"):
            return
        line = f"{item.outcome:>9}  {item.source}"
        if item.outcome in ("added", "updated"):
            line += f"  ({item.chunks} chunks)"
        if item.reason:
            line += f"  -- {item.reason}"
        if bar is not None:
            bar.write(line, file=sys.stdout)
        else:
            _out(line)

    report = ingest_paths(paths, settings, prune=args.prune, progress=progress, on_report=show)
    if bar is not None:
        bar.close()
    if args.json:
        _out(json.dumps({"totals": report.totals, "seconds": round(report.seconds, 3),
                         "chunks_embedded": report.chunks_embedded,
                         "items": [asdict(i) for i in report.items]}, indent=2))
    else:
        totals = ", ".join(f"{n} {k}" for k, n in report.totals.items() if n)
        _out(f"{totals or 'nothing to do'} in {report.seconds:.1f}s ({report.chunks_embedded} chunks embedded)")
    return 1 if report.failed else 0


# -- stats --------------------------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from rag.embed import get_embedder
    from rag.store import open_store

    stats = open_store(settings, get_embedder(settings.embed).name).stats()
    if args.json:
        data = asdict(stats)
        data["first_date"] = stats.first_date.isoformat() if stats.first_date else None
        data["last_date"] = stats.last_date.isoformat() if stats.last_date else None
        data["outlets"] = dict(stats.outlets)
        _out(json.dumps(data, indent=2))
        return 0
    span = f"{stats.first_date} to {stats.last_date}" if stats.first_date else "no dated articles"
    _out(f"index:           {stats.location}")
    _out(f"embedding model: {stats.embedding_model}")
    _out(f"articles:        {stats.articles} (+{stats.aliases} duplicate aliases)")
    _out(f"chunks:          {stats.chunks}")
    _out(f"dates:           {span}")
    top = ", ".join(f"{name} ({n})" for name, n in stats.outlets[:10])
    more = f" and {len(stats.outlets) - 10} more" if len(stats.outlets) > 10 else ""
    _out(f"outlets:         {len(stats.outlets)}: {top}{more}")
    return 0


# -- serve ----------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ui.app import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.replace(ui=overrides)
    serve(settings, open_browser=args.open)
    return 0


# -- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsrag", description="Ask questions of your news articles, with citations.")
    parser.add_argument("--config", metavar="PATH", help="settings file (default: $NEWSRAG_CONFIG or ./config.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="index article files or folders incrementally")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: [paths] articles_dir)")
    p.add_argument("--prune", action="store_true", help="remove indexed articles whose files are gone")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the totals")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("stats", help="what the index holds")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("serve", help="start the chat UI")
    p.add_argument("--host", help="interface to bind (default: [ui] host)")
    p.add_argument("--port", type=int, help="port (default: [ui] port)")
    p.add_argument("--open", action="store_true", help="open a browser tab")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        _err(f"newsrag: {exc}")
        return 2
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, settings)
    except NewsragError as exc:
        _err(f"newsrag: {exc}")
        return 1
    except KeyboardInterrupt:
        _err("newsrag: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
