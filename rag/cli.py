"""``newsrag``: ingest | ask | chats | feedback | serve | mcp | eval | stats | stories | timeline | digest | copy-index.

Thin: parse arguments, call the library, print. Heavy modules (torch, chromadb,
gradio) are imported inside the command that needs them, so ``newsrag --help``
is instant. This is the one module under ``rag/`` that reaches ``ingest`` and
``ui``: it is an edge, like the UI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from rag.config import LLM_PROVIDERS, Settings, load_settings
from rag.errors import ConfigError, InputError, NewsragError

log = logging.getLogger("newsrag")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- ingest -----------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.run import ingest_any
    from rag.progress import ProgressDisplay
    from rag.schema import ArticleReport, IngestReport

    if args.feeds and not settings.feeds.urls:
        raise InputError("No feeds to poll: list them in config.toml, [feeds] urls = [\"https://example.com/feed.xml\"]")
    paths = args.paths or ([] if args.feeds else [str(settings.articles_dir)])
    bar: ProgressDisplay | None = None

    def progress(p: Any) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressDisplay("ingest", p.files_total, "file", enabled=not (args.json or args.quiet))
        bar.update(p.files_done, articles=p.articles_done, chunks=p.chunks_embedded)

    def show(item: ArticleReport) -> None:
        if args.json or item.outcome == "unchanged" or (args.quiet and item.outcome != "failed"):
            return
        line = f"{item.outcome:>9}  {item.source}"
        if item.outcome in ("added", "updated"):
            line += f"  ({item.chunks} chunks)"
        if item.reason:
            line += f"  -- {item.reason}"
        if bar is not None:
            bar.write(line)
        else:
            _out(line)

    report = ingest_any(paths, settings, prune=args.prune, progress=progress, on_report=show) if paths else IngestReport()
    if bar is not None:
        bar.close()
    feeds = _poll_feeds(args, settings, show) if args.feeds else None
    if feeds is not None:
        report = report + feeds.ingest
    if args.json:
        data = {"totals": report.totals, "seconds": round(report.seconds, 3), "chunks_embedded": report.chunks_embedded,
                "notes": list(report.notes), "items": [asdict(i) for i in report.items]}
        if feeds is not None:
            data["feeds"] = [{k: v for k, v in asdict(f).items() if k != "items"} for f in feeds.feeds]
        _out(json.dumps(data, indent=2))
    else:
        totals = ", ".join(f"{n} {k}" for k, n in report.totals.items() if n)
        _out(f"{totals or 'nothing to do'} in {report.seconds:.1f}s ({report.chunks_embedded} chunks embedded)")
        for note in report.notes:
            _out(f"repaired: {note}")
    return 1 if report.failed or (feeds is not None and feeds.failed) else 0


def _poll_feeds(args: argparse.Namespace, settings: Settings, show: Callable[[Any], None]) -> Any:
    """``ingest --feeds``: poll every [feeds] url once; a line per item (as for files) and per feed."""
    from ingest.feeds import describe, poll_feeds

    polled = poll_feeds(settings)
    for feed in polled.feeds:
        for item in feed.items:
            show(item)
        if not args.json and (not args.quiet or feed.outcome == "error"):
            _out(f"{'feed':>9}  {feed.url}  {describe(feed)}")
    return polled


# -- stats --------------------------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from rag.embed import get_embedder
    from rag.store import get_store

    stats = get_store(settings, get_embedder(settings.embed).name).stats()
    if args.json:
        from rag.schema import json_data

        data = json_data(stats)
        data["outlets"] = dict(stats.outlets)
        if stats.interrupted:
            data["interrupted"]["note"] = stats.interrupted.describe()
        _out(json.dumps(data, indent=2))
        return 0
    if stats.interrupted:
        _out(f"interrupted:     {stats.interrupted.describe()}")
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


# -- stories ------------------------------------------------------------------------------------


def cmd_stories(args: argparse.Namespace, settings: Settings) -> int:
    from rag.embed import get_embedder
    from rag.store import get_store
    from rag.stories import listing, stories_of

    store = get_store(settings, get_embedder(settings.embed).name)
    stories_of(settings, store)  # nothing indexed, or nothing grouped: say so rather than "0 stories"
    found, current = listing(settings, store)
    shown = [s for s in found if len(s.articles) >= args.min_articles][: args.limit]
    if not current:
        _err("newsrag: the story table does not match the index (changed since the last ingest): run `newsrag "
             "ingest` to update it")
    if args.json:
        _out(json.dumps({"current": current, "stories": len(found), "stories_shown": [
            {"id": s.id, "first": s.first, "last": s.last,
             "articles": [{"article_id": a, "published": d, "title": t} for a, d, t in s.articles]}
            for s in shown]}, indent=2, ensure_ascii=False))
        return 0
    _out(f"{len(found)} stories, {sum(len(s.articles) > 1 for s in found)} of them with more than one article")
    for story in shown:
        span = f"{story.first or 'date unknown'} to {story.last or 'date unknown'}"
        _out(f"\n{story.id}: {len(story.articles)} article(s), {span}")
        for _, day, title in story.articles:
            _out(f"  {day or 'date unknown':10}  {title}")
    return 0


def cmd_timeline(args: argparse.Namespace, settings: Settings) -> int:
    from rag.dates import day_range
    from rag.embed import get_embedder
    from rag.store import get_store
    from rag.stories import stories_of
    from rag.timeline import story_timeline, timeline_markdown

    since, until = day_range(args.since, args.until, ("--since", "--until"))
    embedder = get_embedder(settings.embed)
    store = get_store(settings, embedder.name)
    found = story_timeline(store, stories_of(settings, store), args.story, since, until, embedder.embed_documents)
    if found is None:
        raise InputError(f"No story matches {args.story!r}: `newsrag stories` lists them")
    if args.json:
        from rag.schema import json_data

        _out(json.dumps(json_data(found), indent=2, ensure_ascii=False))
        return 0
    if args.markdown:
        _out(timeline_markdown(found).rstrip("\n"))
        return 0
    _out(f"{found.story}: {len(found.events)} article(s)")
    for e in found.events:
        _out(f"\n{e.published.isoformat() if e.published else 'date unknown':10}  {e.sentence}")
        named = f" ({', '.join(e.outlets)})" if e.outlets else ""
        _out(f"{'':10}  -- {e.title}{named}{f' {e.url}' if e.url else ''}")
    for figure in found.figures:
        _out(f"\nfigure: {figure.key}")
        for v in figure.values:
            _out(f"  {v.published}  {v.text:>14}  ({', '.join(v.outlets) or 'outlet unknown'})")
    return 0


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from rag.dates import day_range
    from rag.embed import get_embedder
    from rag.store import get_store
    from rag.stories import stories_of
    from rag.timeline import digest, digest_markdown, digest_window

    since, until = day_range(args.since, args.until, ("--since", "--until"))
    if args.limit < 1:
        raise InputError(f"--limit must be 1 or more, not {args.limit}")
    store = get_store(settings, get_embedder(settings.embed).name)
    table = stories_of(settings, store)
    since, until = digest_window(table, since, until, date.today())
    items = digest(store, table, since, until, limit=args.limit)
    if args.json:
        from rag.schema import json_data

        _out(json.dumps({"since": since.isoformat(), "until": until.isoformat(), "stories": json_data(items)},
                        indent=2, ensure_ascii=False))
        return 0
    _out(digest_markdown(items, since, until).rstrip("\n"))
    return 0


# -- ask ----------------------------------------------------------------------------------------


def format_answer(answer: Any) -> str:
    """The answer and its numbered sources as plain text."""
    from rag.dates import day_text, describe
    from rag.outputs import as_of_text, disagreement_text, marked_text, outlets_text

    lines = []
    if answer.dates:
        lines += [f"(dates read from the question: “{answer.dates.text}” = {describe(answer.dates)}; a ranking signal)", ""]
    if answer.lead and not answer.refused:
        lines += [f"Answer: {answer.lead} [{answer.lead_citation}]", ""]
    lines.append(marked_text(answer))
    if stamp := as_of_text(answer):
        lines += ["", stamp]
    lines += [line for d in answer.disagreements for line in ("", disagreement_text(d) + ".")]
    if answer.note:
        lines += ["", f"Note: {answer.note}"]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            when = day_text(c.published)
            lines.append(f"[{c.number}] {c.title} ({c.outlet or 'unknown outlet'}, {when})")
            if c.url:
                lines.append(f"    {c.url}")
            elif c.source:
                lines.append(f"    {c.source}")
            if c.also_reported:
                lines.append(f"    also reported by: {', '.join(c.also_reported)}")
            if c.outlets:
                lines.append(f"    {outlets_text(c.outlets)}")
            quotes = [s.sentence for sent in answer.sentences for s in sent.support if s.citation == c.number]
            if quotes:
                lines.append(f"    “{quotes[0]}”")
    return "\n".join(lines)


def _chat_store(settings: Settings) -> Any:
    """The saved chats of this user: the [ui] auth_user's when a login is set (the CLI shares the UI's), else ""."""
    from rag.chats import ChatStore

    return ChatStore(settings.chats_path, owner=settings.ui.auth_user)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.chats import snapshot
    from rag.dates import parse_day
    from rag.schema import Filters
    from rag.service import Done, Error, Token, answer_dict, ask

    filters = Filters(since=parse_day(args.since, "--since"), until=parse_day(args.until, "--until"),
                      outlets=tuple(args.outlet or ()))
    chats = _chat_store(settings) if args.chat is not None else None  # opened first: a broken store fails early
    live = not args.json and sys.stderr.isatty()
    with chats if chats is not None else contextlib.nullcontext():
        history = chats.history(args.chat) if chats is not None else None
        for event in ask(args.question, history, filters, settings, provider=args.provider, top_k=args.top_k,
                         today=parse_day(args.today, "--today")):
            if isinstance(event, Token) and live and args.provider not in (None, "extractive"):
                sys.stderr.write(event.text)
                sys.stderr.flush()
            elif isinstance(event, Done):
                if live and args.provider not in (None, "extractive"):
                    sys.stderr.write("\n\n")
                _out(json.dumps(answer_dict(event.answer), indent=2) if args.json else format_answer(event.answer))
                if chats is not None:
                    used = snapshot(settings, args.provider, args.top_k, args.today)
                    _err(f"saved as turn {chats.append_turn(args.chat, event.answer, used)} of chat {args.chat!r}")
                return 0
            elif isinstance(event, Error):
                if event.partial is not None:
                    _out(json.dumps(answer_dict(event.partial), indent=2) if args.json else format_answer(event.partial))
                _err(f"newsrag: {event.message}")
                return 2 if event.invalid else 1
    return 1


# -- chats and feedback ---------------------------------------------------------------------------


def _write_out(text: str, out: str | None) -> None:
    """``text`` to the file ``out`` (never a folder), or to stdout."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from pathlib import Path

    path = Path(out).expanduser()
    if path.is_dir():
        raise InputError(f"--out {path} is a folder: give a file path")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out {path}: cannot write: {exc.strerror or exc}") from exc
    _err(f"wrote {path}")


def cmd_chats(args: argparse.Namespace, settings: Settings) -> int:
    with _chat_store(settings) as chats:
        if args.action == "list":
            items = chats.list_chats()
            if args.json:
                _out(json.dumps([asdict(c) for c in items], indent=2, ensure_ascii=False))
            for c in items if not args.json else ():
                from datetime import datetime

                when = datetime.fromtimestamp(c.updated).strftime("%Y-%m-%d %H:%M")
                _out(f"{c.name}  ({c.turns} turn{'s' if c.turns != 1 else ''}, {when})  {c.title}")
            if not items and not args.json:
                _out("no saved chats: start one with `newsrag ask --chat NAME QUESTION`")
        elif args.action == "export":
            if args.format == "json":
                text = json.dumps(chats.export_json(args.name), indent=2, ensure_ascii=False) + "\n"
            else:
                text = chats.export_markdown(args.name)
            _write_out(text, args.out)
        elif args.action == "delete":
            chats.delete(args.name)
            _err(f"deleted chat {args.name!r}")
        elif args.action == "rename":
            chats.rename(args.name, args.new)
            _err(f"renamed chat {args.name!r} to {args.new!r}")
    return 0


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    with _chat_store(settings) as chats:
        if args.chat == "export" and args.turn is None:
            rows = chats.feedback_rows()
            if not rows:
                _err("no rated answers yet: rate one with `newsrag feedback CHAT TURN up|down`")
            _write_out("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), args.out)
            if args.out:
                _err(f"{len(rows)} rated answer(s) exported")
            return 0
        if args.turn is None or args.rating is None:
            raise InputError("usage: newsrag feedback CHAT TURN up|down [--comment TEXT], "
                             "or newsrag feedback export [--out FILE]")
        try:
            turn = int(args.turn)
        except ValueError:
            raise InputError(f"TURN must be a number (1 = the first answer), not {args.turn!r}") from None
        if args.rating not in ("up", "down"):
            raise InputError(f"the rating must be up or down, not {args.rating!r}")
        chats.feedback(args.chat, turn, args.rating, args.comment or "")
        _err(f"feedback saved on turn {turn} of chat {args.chat!r}")
    return 0


# -- eval -----------------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.evaluate import evaluate, existing_file, load_questions, output_path, report_dict
    from rag.progress import ProgressDisplay
    from rag.service import Engine

    questions_path = existing_file(args.questions, "questions file")
    corpus = existing_file(args.corpus, "--corpus") if args.corpus else None
    out = output_path(args.out, [questions_path, *([corpus] if corpus else [])]) if args.out else None
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be 1 or more, not {args.limit}")
    questions = load_questions(questions_path)
    if args.limit:
        questions = questions[: args.limit]
    with contextlib.ExitStack() as stack:
        if corpus is not None:
            from ingest.run import throwaway_index

            settings = stack.enter_context(throwaway_index(corpus, settings, told=_err))
        bar = ProgressDisplay("eval", len(questions), "question", enabled=not args.json)
        result = evaluate(questions, Engine(settings), provider=args.provider, retrieval_only=args.retrieval_only,
                          use_question_dates=not args.no_question_dates, results_path=out,
                          progress=lambda done, total: bar.update(done))
        bar.close()
    data = report_dict(result)
    if args.json:
        _out(json.dumps(data, indent=2))
        return 0
    for key, value in data.items():
        if value is not None:
            _out(f"{key:>20}: {value}")
    if out:
        _out(f"{'per-question':>20}: {out}")
    return 0


# -- copy-index -----------------------------------------------------------------------------------


def cmd_copy_index(args: argparse.Namespace, settings: Settings) -> int:
    from rag.store import copy_index

    chunks, articles, source, target = copy_index(settings, load_settings(args.to))
    _out(f"copied {articles} articles and {chunks} chunks from {source} to {target}")
    return 0


# -- serve ----------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ui.server import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.replace(ui=overrides)
    serve(settings, open_browser=args.open, watch=args.watch)
    return 0


# -- mcp -------------------------------------------------------------------------------------------


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from rag.mcp_server import serve_stdio

    serve_stdio(settings)
    return 0


# -- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsrag", description="Ask questions of your news articles, with citations.")
    parser.add_argument("--config", metavar="PATH", help="settings file (default: $NEWSRAG_CONFIG or ./config.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="index article files, folders, web pages or feeds incrementally")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files, folders, page URLs or RSS/Atom feed URLs (default: [paths] articles_dir)")
    p.add_argument("--prune", action="store_true", help="remove indexed articles whose files are gone")
    p.add_argument("--feeds", action="store_true",
                   help="poll every [feeds] urls feed once (with no PATH: only the feeds, not the articles folder)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the totals")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("stats", help="what the index holds")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("stories", help="the stories: articles about one event, grouped at ingest")
    p.add_argument("--min-articles", type=int, default=2, metavar="N", help="only stories of N+ articles (default 2)")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N stories, largest first (default 20)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_stories)

    p = sub.add_parser("timeline", help="a story's articles in date order, one cited sentence each")
    p.add_argument("story", metavar="STORY", help="a story id (see `newsrag stories`) or words naming it")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only articles published on or after this day")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="only articles published on or before this day")
    p.add_argument("--json", action="store_true", help="print as JSON (events and figures over time)")
    p.add_argument("--markdown", action="store_true", help="print as Markdown")
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser("digest", help="what's new: the top stories of the last week (or --since/--until), cited")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="from this day (default: 7 days before --until)")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="to this day (default: the newest day of the articles)")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="at most N stories (default 10)")
    p.add_argument("--json", action="store_true", help="print as JSON (the default output is Markdown)")
    p.add_argument("--markdown", action="store_true", help="print as Markdown (the default)")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser("ask", help="answer a question from the indexed articles, with sources")
    p.add_argument("question")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only articles published on or after this day")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="only articles published on or before this day")
    p.add_argument("--outlet", action="append", metavar="NAME",
                   help="only this outlet, in any spelling: CNN, cnn.com (repeatable)")
    p.add_argument("--provider", choices=LLM_PROVIDERS, help="answerer (default: [llm] provider)")
    p.add_argument("--top-k", type=int, metavar="N", help="passages in the context (default: [retrieve] top_k)")
    p.add_argument("--today", metavar="YYYY-MM-DD",
                   help='answer as of this day: "last week" is relative to it and articles published later rank '
                        'after all others (default: the newest date several articles reach)')
    p.add_argument("--json", action="store_true", help="print the whole structured answer")
    p.add_argument("--chat", metavar="NAME", help="continue (or start) this saved chat: follow-ups resolve against "
                                                  "it and the answer is saved in it")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chats", help="saved chats: list, export, rename, delete")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="the saved chats, the most recent first")
    a.add_argument("--json", action="store_true", help="print as JSON")
    a = actions.add_parser("export", help="a chat as Markdown or JSON")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--format", choices=("md", "json"), default="md", help="md: for reading (default); json: everything")
    a.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    a = actions.add_parser("delete", help="delete a chat")
    a.add_argument("name", metavar="NAME")
    a = actions.add_parser("rename", help="rename a chat")
    a.add_argument("name", metavar="OLD")
    a.add_argument("new", metavar="NEW")
    p.set_defaults(func=cmd_chats)

    p = sub.add_parser("feedback", help="rate an answer of a saved chat (CHAT TURN up|down), or `feedback export` "
                                        "the rated answers as eval questions")
    p.add_argument("chat", metavar="CHAT|export")
    p.add_argument("turn", nargs="?", metavar="TURN", help="the answer's number in the chat (1 = the first)")
    p.add_argument("rating", nargs="?", metavar="up|down")
    p.add_argument("--comment", metavar="TEXT", help="why (stored with the rating)")
    p.add_argument("--out", metavar="FILE", help="export: write the JSON Lines here instead of standard output")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("eval", help="measure retrieval and answers on a question set")
    p.add_argument("questions", metavar="QUESTIONS.jsonl")
    p.add_argument("--corpus", metavar="CORPUS.jsonl", help="index this corpus into a throwaway index first")
    p.add_argument("--provider", choices=LLM_PROVIDERS, help="answerer (default: [llm] provider)")
    p.add_argument("--out", metavar="RESULTS.jsonl", help="write per-question results here")
    p.add_argument("--retrieval-only", action="store_true", help="measure retrieval only, no answers")
    p.add_argument("--no-question-dates", action="store_true",
                   help="resolve relative dates against the newest article, not each question's date")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("copy-index", help="copy this index into another store (e.g. a Chroma server)")
    p.add_argument("--to", required=True, metavar="CONFIG", help="settings file of the target store")
    p.set_defaults(func=cmd_copy_index)

    p = sub.add_parser("serve", help="start the chat UI")
    p.add_argument("--host", help="interface to bind (default: [ui] host)")
    p.add_argument("--port", type=int, help="port (default: [ui] port)")
    p.add_argument("--open", action="store_true", help="open a browser tab")
    p.add_argument("--watch", action="store_true", help="re-index the articles folder when its files change")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="serve search_news and ask_news to MCP clients over stdio")
    p.set_defaults(func=cmd_mcp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("chromadb", "httpx", "urllib3", "sentence_transformers", "trafilatura", "htmldate"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        _err(f"newsrag: {exc}")
        return 2
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, settings)
    except (InputError, ConfigError) as exc:  # a setting only the loaded model can check: [embed] max_tokens
        _err(f"newsrag: {exc}")
        return 2
    except NewsragError as exc:
        _err(f"newsrag: {exc}")
        return 1
    except KeyboardInterrupt:
        _err("newsrag: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
