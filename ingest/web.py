"""Articles from the web: a page URL, or an RSS/Atom feed whose items' pages are fetched.

Requests carry a descriptive user agent, a timeout and a size limit (``[web]``).
Pages are extracted exactly like HTML files. For a feed, items whose URL is
already indexed are not fetched again, so re-running a feed adds only new items;
when an item's page cannot be fetched, the feed's own text for it is used if it
has enough of it.
"""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.clean import strip_html
from ingest.files import is_url
from ingest.load import MIN_HTML_WORDS, make_article, parse_date, parse_html
from rag.config import Settings
from rag.embed import Embedder, get_embedder
from rag.errors import LoadError
from rag.schema import Article, ArticleReport, IngestReport, url_article_id
from rag.store import Store, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str
    body: bytes


def fetch(url: str, settings: Settings) -> Fetched:
    """GET ``url`` with the configured user agent, timeout and size limit; LoadError on any failure."""
    if not is_url(url):
        raise LoadError(f"not an http(s) URL: {url!r}")
    cfg = settings.web
    limit = int(cfg.max_page_mb * 1_000_000)
    request = urllib.request.Request(url, headers={"User-Agent": cfg.user_agent,
                                                   "Accept": "text/html,application/xhtml+xml,application/rss+xml,"
                                                             "application/atom+xml,application/xml;q=0.9,*/*;q=0.5"})
    try:
        with urllib.request.urlopen(request, timeout=cfg.timeout) as reply:  # noqa: S310 - http(s) checked above
            body = reply.read(limit + 1)
            if len(body) > limit:
                raise LoadError(f"page is over the {cfg.max_page_mb:g} MB limit ([web] max_page_mb)")
            return Fetched(reply.geturl(), reply.headers.get("Content-Type", ""), body)
    except urllib.error.HTTPError as exc:
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


def feed_articles(fetched: Fetched, settings: Settings, store: Store) -> tuple[list[Article], list[ArticleReport]]:
    """Articles for the feed's items that are not indexed yet (their pages fetched), and reports for the rest."""
    import feedparser

    feed = feedparser.parse(fetched.body)
    if not feed.entries:
        raise LoadError(f"the feed at {fetched.url} has no items")
    links = [e.get("link") for e in feed.entries[: settings.web.max_feed_items] if e.get("link")]
    known = {rid for rid, r in store.records(url_article_id(u) for u in links).items() if r.status in ("done", "alias")}
    articles: list[Article] = []
    reports: list[ArticleReport] = []
    for entry in feed.entries[: settings.web.max_feed_items]:
        link = entry.get("link") or ""
        title = entry.get("title") or ""
        if not link:
            reports.append(ArticleReport(f"{fetched.url} ({title[:60]})", "failed", title, reason="feed item has no link"))
            continue
        if url_article_id(link) in known:
            reports.append(ArticleReport(link, "unchanged", title, url_article_id(link)))
            continue
        try:
            articles.append(page_article(link, settings))
            continue
        except LoadError as exc:
            reason = str(exc)
        summary = entry.get("content", [{}])[0].get("value") if entry.get("content") else entry.get("summary", "")
        text = strip_html(summary or "")
        if len(text.split()) >= MIN_HTML_WORDS:
            articles.append(make_article(title=title, text=text, source=link, key_hint=link,
                                         published=parse_date(entry.get("published") or entry.get("updated")),
                                         outlet=feed.feed.get("title", ""), url=link))
        else:
            reports.append(ArticleReport(link, "failed", title, reason=reason))
    return articles, reports


def ingest_urls(urls: Sequence[str], settings: Settings, *, embedder: Embedder | None = None,
                store: Store | None = None) -> IngestReport:
    """Fetch pages and feeds and index what they hold; a failure costs only its own URL."""
    from ingest.index import ingest_articles

    embedder = embedder or get_embedder(settings.embed)
    store = store or open_store(settings, embedder.name)
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
