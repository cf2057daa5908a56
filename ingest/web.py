"""Articles from the web: a page URL, or an RSS/Atom feed whose items' pages are fetched.

Requests carry a descriptive user agent, a timeout and a size limit (``[web]``).
Pages are extracted exactly like HTML files. For a feed, items whose URL is
already indexed are not fetched again, so re-running a feed adds only new items;
when an item's page cannot be fetched, the feed's own text for it is used if it
has enough of it. :func:`fetch` can be conditional (ETag, Last-Modified) and
:func:`read_feed` can skip items seen before: the feeds' poller (:mod:`ingest.feeds`)
uses both.
"""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.request
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.clean import strip_html
from ingest.files import is_url
from ingest.load import MIN_HTML_WORDS, build_article, parse_date, parse_html
from rag.config import Settings
from rag.embed import Embedder, get_embedder
from rag.errors import LoadError
from rag.schema import Article, ArticleReport, IngestReport, url_article_id
from rag.store import Store, get_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str
    body: bytes
    status: int = 200  # 304: not modified since the validators sent (``body`` is empty)
    etag: str = ""
    last_modified: str = ""


def fetch(url: str, settings: Settings, *, etag: str = "", last_modified: str = "") -> Fetched:
    """GET ``url`` with the configured user agent, timeout and size limit; LoadError on any failure. With ``etag``
    or ``last_modified`` (from an earlier reply) the GET is conditional, and a 304 reply is returned, not raised."""
    if not is_url(url):
        raise LoadError(f"not an http(s) URL: {url!r}")
    cfg = settings.web
    limit = int(cfg.max_page_mb * 1_000_000)
    headers = {"User-Agent": cfg.user_agent,
               "Accept": "text/html,application/xhtml+xml,application/rss+xml,"
                         "application/atom+xml,application/xml;q=0.9,*/*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=cfg.timeout) as reply:  # noqa: S310 - http(s) checked above
            body = reply.read(limit + 1)
            if len(body) > limit:
                raise LoadError(f"page is over the {cfg.max_page_mb:g} MB limit ([web] max_page_mb)")
            return Fetched(reply.geturl(), reply.headers.get("Content-Type", ""), body, reply.status,
                           reply.headers.get("ETag", ""), reply.headers.get("Last-Modified", ""))
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and (etag or last_modified):
            return Fetched(url, "", b"", 304, exc.headers.get("ETag", "") or etag,
                           exc.headers.get("Last-Modified", "") or last_modified)
        raise LoadError(f"HTTP {exc.code} {exc.reason} from {url}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise LoadError(f"no answer from {url} within {cfg.timeout:g} s ([web] timeout)") from exc
        raise LoadError(f"cannot fetch {url}: {exc.reason}") from exc
    except TimeoutError as exc:
        raise LoadError(f"no answer from {url} within {cfg.timeout:g} s ([web] timeout)") from exc
    except OSError as exc:
        raise LoadError(f"cannot fetch {url}: {exc}") from exc


def _decode(fetched: Fetched) -> str:
    charset = re.search(r"charset=([\w-]+)", fetched.content_type or "", re.IGNORECASE)
    for encoding in ((charset.group(1),) if charset else ()) + ("utf-8", "cp1252"):
        try:
            return fetched.body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return fetched.body.decode("utf-8", errors="replace")


def looks_like_feed(fetched: Fetched) -> bool:
    kind = fetched.content_type.lower()
    if "rss" in kind or "atom" in kind:
        return True
    head = fetched.body[:2000].lstrip().lower()
    return head.startswith(b"<?xml") and (b"<rss" in head or b"<feed" in head or b"<rdf" in head)


def page_article(url: str, settings: Settings, fetched: Fetched | None = None) -> Article:
    fetched = fetched or fetch(url, settings)
    return parse_html(_decode(fetched), source=fetched.url, url=fetched.url)


@dataclass(frozen=True)
class FeedRead:
    """A feed's items read against the index: ``articles`` to index, ``reports`` for the items that gave none
    (known or failed), and ``keys``: each item's key (its guid, else its link) by the id of its article (for the
    new items and the known ones)."""

    title: str
    articles: list[Article]
    reports: list[ArticleReport]
    keys: dict[str, str]


def item_key(entry: Any) -> str:
    """What names a feed item across polls: its guid (``id``), else its link."""
    return str(entry.get("id") or entry.get("link") or "")


def read_feed(fetched: Fetched, settings: Settings, store: Store, *, seen: Collection[str] = frozenset(),
              full_text: bool = True) -> FeedRead:
    """The feed's first ``[web] max_feed_items`` items: those whose URL is indexed or whose key is in ``seen`` are
    ``unchanged`` and not fetched; for the others the page is fetched and extracted (when ``full_text``), with the
    feed's own text as the fallback. LoadError when the body is not an RSS/Atom feed."""
    import feedparser

    feed = feedparser.parse(fetched.body)
    if not feed.entries and (feed.bozo or not feed.get("version")):
        problem = str(feed.get("bozo_exception") or "no RSS or Atom elements in it").replace("<unknown>:", "line ")
        raise LoadError(f"{fetched.url} is not an RSS/Atom feed ({problem})")
    entries = feed.entries[: settings.web.max_feed_items]
    links = [e.get("link") for e in entries if e.get("link")]
    known = {rid for rid, r in store.records(url_article_id(u) for u in links).items() if r.status in ("done", "alias")}
    outlet = feed.feed.get("title", "")
    read = FeedRead(outlet, [], [], {})
    for entry in entries:
        link = entry.get("link") or ""
        title = entry.get("title") or ""
        if not link:
            read.reports.append(ArticleReport(f"{fetched.url} ({title[:60]})", "failed", title,
                                              reason="feed item has no link"))
        elif url_article_id(link) in known or item_key(entry) in seen:
            read.reports.append(ArticleReport(link, "unchanged", title, url_article_id(link)))
            read.keys[url_article_id(link)] = item_key(entry)
        else:
            found = _item_article(entry, link, title, outlet, settings, full_text)
            if isinstance(found, Article):
                read.articles.append(found)
                read.keys[found.id] = item_key(entry)
            else:
                read.reports.append(found)
    return read


def _item_article(entry: Any, link: str, title: str, outlet: str, settings: Settings,
                  full_text: bool) -> Article | ArticleReport:
    """One item's article: its page, else the feed's text for it when that is long enough, else a failed report."""
    reason = "the feed's text for it is too short and [feeds] fetch_full_text is false"
    if full_text:
        try:
            return page_article(link, settings)
        except LoadError as exc:
            reason = str(exc)
    summary = entry.get("content", [{}])[0].get("value") if entry.get("content") else entry.get("summary", "")
    text = strip_html(summary or "")
    if len(text.split()) >= MIN_HTML_WORDS:
        try:
            return build_article(title=title, text=text, source=link, key_hint=link,
                                published=parse_date(entry.get("published") or entry.get("updated")),
                                outlet=outlet, url=link)
        except LoadError as exc:
            reason = str(exc)
    return ArticleReport(link, "failed", title, reason=reason)


def feed_articles(fetched: Fetched, settings: Settings, store: Store) -> tuple[list[Article], list[ArticleReport]]:
    """Articles for the feed's items that are not indexed yet (their pages fetched), and reports for the rest."""
    read = read_feed(fetched, settings, store)
    if not read.articles and not read.reports:
        raise LoadError(f"the feed at {fetched.url} has no items")
    return read.articles, read.reports


def ingest_urls(urls: Sequence[str], settings: Settings, *, embedder: Embedder | None = None,
                store: Store | None = None) -> IngestReport:
    """Fetch pages and feeds and index what they hold; a failure costs only its own URL."""
    from ingest.index import ingest_articles

    embedder = embedder or get_embedder(settings.embed)
    store = store or get_store(settings, embedder.name)
    articles: list[Article] = []
    reports: list[ArticleReport] = []
    for url in urls:
        try:
            fetched = fetch(url, settings)
            if looks_like_feed(fetched):
                found, skipped = feed_articles(fetched, settings, store)
                articles += found
                reports += skipped
            else:
                articles.append(page_article(url, settings, fetched))
        except LoadError as exc:
            reports.append(ArticleReport(url, "failed", reason=str(exc)))
    result = ingest_articles(articles, settings, embedder=embedder, store=store)
    return IngestReport(tuple(reports)) + result
