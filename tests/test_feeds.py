"""Feeds that refresh themselves (ingest/feeds.py): polls against a real HTTP server on 127.0.0.1 whose feed
changes between polls, conditional GET, failures per feed, the state file, ``ingest --feeds`` and serve's poller."""

from __future__ import annotations

import http.server
import time

import pytest

from ingest.feeds import FeedPoller, feed_status, poll_feeds, start_feed_poller
from rag.errors import ConfigError
from rag.store import get_store

from .conftest import LocalServer, QuietHandler, make_settings

PAGE = """<html><head><title>{title} | Orvik Herald</title>
<meta property="og:site_name" content="Orvik Herald">
<meta property="article:published_time" content="2024-05-0{n}T09:00:00Z"></head>
<body><nav><a href="/">Home</a></nav><article><h1>{title}</h1>
<p>{body}</p><p>The council will publish its full report on the matter next month, a spokeswoman for the city of
Orvik said on Thursday, adding that residents could send their comments until the end of June.</p></article></body></html>"""

BODIES = {
    "1": ("Lantern parade draws record crowd", "More than 12,000 people joined the spring lantern parade in Orvik."),
    "3": ("Orvik ferry sails every forty minutes", "The Orvik ferry will sail every forty minutes from June onwards."),
}
SUMMARY_2 = ("The Orvik library will stay open until midnight on Fridays from next week, the head librarian said, "
             "after a survey found that students wanted a quiet place to study late in the evening before exams.")

ITEM = "<item><title>{title}</title><link>{base}{path}</link><guid isPermaLink=\"false\">{guid}</guid>" \
       "<pubDate>Thu, 02 May 2024 09:00:00 GMT</pubDate>{extra}</item>"


def rss(base: str, items: list[tuple[str, str, str, str]]) -> str:
    body = "".join(ITEM.format(title=t, base=base, path=p, guid=g, extra=e) for t, p, g, e in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Orvik Herald</title>'
            f"<link>{base}/</link><description>News</description>{body}</channel></rss>")


FIRST = [("Lantern parade draws record crowd", "/news/1", "orvik-1", ""),
         ("Library opens late on Fridays", "/news/2", "orvik-2", f"<description>{SUMMARY_2}</description>")]
# the second version: item 1 moved to another URL under the same guid, a new item 3, and item 4 whose page fails
# and whose feed text is too short to stand in for it
SECOND = [("Lantern parade draws record crowd", "/news/1-moved", "orvik-1", ""), *FIRST[1:],
          ("Orvik ferry sails every forty minutes", "/news/3", "orvik-3", ""),
          ("Harbour closed", "/news/4", "orvik-4", "<description>Closed.</description>")]


class Site(LocalServer):
    """A news site on 127.0.0.1 with an RSS feed that answers conditional GETs, a page that fails (500), a feed
    that is not a feed and one that fails; it records every request's path and validators."""

    def __init__(self) -> None:
        site = self
        self.items = FIRST
        self.version = 1
        self.requests: list[tuple[str, str, str]] = []  # path, If-None-Match, If-Modified-Since

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.requests.append((self.path, self.headers.get("If-None-Match", ""),
                                      self.headers.get("If-Modified-Since", "")))
                if self.path == "/feed.xml":
                    etag = f'"v{site.version}"'
                    modified = f"Thu, 0{site.version} May 2024 10:00:00 GMT"
                    if self.headers.get("If-None-Match") == etag:
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    self.send("application/rss+xml", rss(site.base, site.items), ETag=etag, **{"Last-Modified": modified})
                elif self.path == "/garbage.xml":
                    self.send("application/rss+xml", "{\"error\": \"upstream <<< timeout\"} \x01 not XML at all")
                elif self.path in ("/broken.xml", "/news/2", "/news/4"):
                    self.send_error(500)
                elif self.path.startswith("/news/"):
                    n = self.path.removeprefix("/news/").split("-")[0]
                    title, body = BODIES[n]
                    self.send("text/html; charset=utf-8", PAGE.format(n=n, title=title, body=body))
                else:
                    self.send_error(404)

        super().__init__(Handler)

    def change(self) -> None:
        self.items, self.version = SECOND, 2

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


def feed_settings(tmp_path, site, *urls: str, **feeds):
    return make_settings(tmp_path, web={"timeout": 5.0},
                         feeds={"urls": [f"{site.base}{u}" if u.startswith("/") else u for u in urls], **feeds})


@pytest.mark.integration
def test_polls_add_new_items_once_use_conditional_get_and_report_bad_feeds(tmp_path, embedder, site):
    settings = feed_settings(tmp_path, site, "/feed.xml", "/garbage.xml", "/broken.xml")
    feed, garbage, broken = settings.feeds.urls

    first = poll_feeds(settings, embedder=embedder)
    results = {r.url: r for r in first.feeds}
    assert (results[feed].outcome, results[feed].added, results[feed].failed) == ("added", 2, 0)
    assert results[garbage].outcome == "error" and "is not an RSS/Atom feed" in results[garbage].error
    assert results[broken].outcome == "error" and "HTTP 500" in results[broken].error
    assert first.failed
    store = get_store(settings, embedder.name)
    urls = sorted(r.url for r in store.records().values())
    assert urls == [f"{site.base}/news/1", f"{site.base}/news/2"]
    library = next(r for r in store.records().values() if r.url.endswith("/news/2"))  # its page is a 500
    assert library.title == "Library opens late on Fridays"  # ... so the feed's text stood in for it

    site.requests.clear()
    second = poll_feeds(settings, embedder=embedder)
    again = {r.url: r for r in second.feeds}[feed]
    assert (again.outcome, again.not_modified, again.added) == ("unchanged", True, 0)
    assert ("/feed.xml", '"v1"', "Thu, 01 May 2024 10:00:00 GMT") in site.requests  # sent its validators
    assert not any(p.startswith("/news/") for p in site.paths()) and second.ingest.chunks_embedded == 0

    site.change()
    site.requests.clear()
    third = poll_feeds(settings, embedder=embedder)
    changed = {r.url: r for r in third.feeds}[feed]
    assert (changed.outcome, changed.added, changed.failed) == ("added", 1, 1)
    assert "/news/1-moved" not in site.paths()  # a guid seen before is not fetched again, under a new URL too
    assert "/news/2" not in site.paths()  # an indexed URL neither
    outcomes = {i.source.removeprefix(site.base): i.outcome for i in changed.items}
    assert outcomes == {"/news/1-moved": "unchanged", "/news/2": "unchanged", "/news/3": "added", "/news/4": "failed"}
    urls = sorted(r.url for r in get_store(settings, embedder.name).records().values())
    assert urls == [f"{site.base}/news/{n}" for n in (1, 2, 3)]  # nothing twice

    status = {s.url: s for s in feed_status(settings)}
    assert (status[feed].last_outcome, status[feed].last_added, status[feed].total_added) == ("added", 1, 3)
    assert "1 item(s) failed" in status[feed].last_error and "/news/4" in status[feed].last_error
    assert "HTTP 500" in status[feed].last_error
    assert status[feed].etag == "" and status[feed].items_seen == 3  # guids 1 (1-moved is 1), 2, 3; not the failed 4
    assert "is not an RSS/Atom feed" in status[garbage].last_error and status[garbage].last_outcome == "error"
    assert "HTTP 500" in status[broken].last_error and status[broken].total_added == 0
    assert all(s.last_poll is not None and s.next_poll == s.last_poll + 3600 for s in status.values())

    site.requests.clear()  # the failed item is tried again: the feed is fetched whole, not conditionally
    fourth = poll_feeds(settings, embedder=embedder)
    assert ("/feed.xml", "", "") in site.requests and "/news/4" in site.paths() and "/news/3" not in site.paths()
    assert {r.url: r for r in fourth.feeds}[feed].added == 0


@pytest.mark.integration
def test_a_feed_that_times_out_or_is_gone_costs_only_itself(tmp_path, embedder, site):
    hang = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # never answers
    try:
        slow = f"http://127.0.0.1:{hang.server_address[1]}/feed.xml"
        settings = make_settings(tmp_path, web={"timeout": 1.0},
                                 feeds={"urls": [slow, "http://127.0.0.1:9/feed.xml", f"{site.base}/feed.xml"],
                                        "fetch_full_text": False})
        report = poll_feeds(settings, embedder=embedder)
    finally:
        hang.server_close()
    timed_out, gone, good = report.feeds
    assert timed_out.outcome == "error" and "within 1 s" in timed_out.error
    assert gone.outcome == "error" and "cannot fetch" in gone.error
    # fetch_full_text = false: no page is fetched; item 2 has feed text enough, item 1 has none
    assert (good.outcome, good.added, good.failed) == ("added", 1, 1)
    assert not any(p.startswith("/news/") for p in site.paths())
    assert "fetch_full_text is false" in next(i.reason for i in good.items if i.outcome == "failed")


@pytest.mark.integration
def test_cli_ingest_feeds_prints_a_line_per_feed(tmp_path, embedder, site, capsys):
    from rag import cli

    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\narticles_dir = "{tmp_path / "a"}"\nindex_dir = "{tmp_path / "i"}"\n'
                      f'[feeds]\nurls = ["{site.base}/feed.xml", "{site.base}/broken.xml"]\n')
    assert cli.main(["--config", str(config), "ingest", "--feeds"]) == 1  # a feed failed
    out = capsys.readouterr().out
    assert f"feed  {site.base}/feed.xml  added 2 new items" in out
    assert f"feed  {site.base}/broken.xml  error: HTTP 500" in out and "Traceback" not in out
    assert "2 added" in out
    assert cli.main(["--config", str(config), "ingest", "--feeds"]) == 1
    assert f"feed  {site.base}/feed.xml  unchanged (not modified)" in capsys.readouterr().out

    empty = tmp_path / "empty.toml"
    empty.write_text(f'[paths]\nindex_dir = "{tmp_path / "i2"}"\n')
    assert cli.main(["--config", str(empty), "ingest", "--feeds"]) == 2
    assert "No feeds to poll" in capsys.readouterr().err


@pytest.mark.integration
def test_the_poller_polls_on_its_interval_and_stops(tmp_path, embedder, site):
    settings = feed_settings(tmp_path, site, "/feed.xml")
    poller = start_feed_poller(settings, interval_s=0.5)
    try:
        deadline = time.monotonic() + 60
        while poller.polls < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        poller.stop()
    assert poller.polls >= 2 and not poller.thread.is_alive()
    assert ("/feed.xml", '"v1"', "Thu, 01 May 2024 10:00:00 GMT") in site.requests  # the second poll was conditional
    assert feed_status(settings)[0].total_added == 2
    # a server started again waits for the rest of the interval since the last poll
    assert 3000 < FeedPoller(settings).first_delay() <= 3600


@pytest.mark.integration
def test_serve_polls_the_feeds_in_the_background_and_stops_with_the_server(tmp_path, monkeypatch, embedder, site):
    from ui.server import serve

    monkeypatch.delenv("NEWSRAG_API_KEY", raising=False)
    settings = feed_settings(tmp_path, site, "/feed.xml").replace(ui={"port": 0})
    running = serve(settings, block=False)
    assert running is not None and running.poller is not None
    try:
        deadline = time.monotonic() + 90
        while feed_status(settings)[0].last_poll is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert feed_status(settings)[0].total_added == 2  # never polled: polled at start
    finally:
        running.close()
    assert not running.thread.is_alive() and not running.poller.thread.is_alive()


@pytest.mark.unit
@pytest.mark.parametrize(("feeds", "message"), [
    ({"urls": "https://example.com/feed.xml"}, r"a list of http\(s\) feed URLs"),
    ({"urls": ["ftp://example.com/feed.xml"]}, r"a list of http\(s\) feed URLs"),
    ({"interval_minutes": 0.5}, "between 1 and 10080"),
    ({"fetch_full_text": "yes"}, "expected true or false"),
])
def test_feeds_settings_are_checked(tmp_path, feeds, message):
    with pytest.raises(ConfigError, match=message):
        make_settings(tmp_path, feeds=feeds)


@pytest.mark.unit
def test_feed_urls_keep_their_order_without_repeats(tmp_path):
    settings = make_settings(tmp_path, feeds={"urls": ["https://b.example/f", "https://a.example/f", "https://b.example/f"]})
    assert settings.feeds.urls == ("https://b.example/f", "https://a.example/f")
    assert [s.last_outcome for s in feed_status(settings)] == ["", ""]  # never polled, no state file yet


@pytest.mark.unit
def test_the_index_tab_s_feeds_block(tmp_path):
    from ingest.feeds import FeedStatus
    from ui.feed_views import NO_FEEDS, feeds_markdown

    assert feeds_markdown([], 60) == NO_FEEDS
    ok = FeedStatus("https://a.example/feed.xml", 1714640400.0, 1714644000.0, "added", 2, 5, "", "", "", 7)
    bad = FeedStatus("https://b.example/feed.xml", 1714640400.0, None, "error", 0, 0, "HTTP 500 | Server Error", "",
                     "", 0)
    never = FeedStatus("https://c.example/feed.xml", None, None, "", 0, 0, "", "", "", 0)
    table = feeds_markdown([ok, bad, never], 30).splitlines()
    assert "every 30 minutes" in table[0]
    assert table[4].startswith("| https://a.example/feed.xml |") and "| added | 2 / 5 |" in table[4]
    assert "HTTP 500 \\| Server Error" in table[5]  # a pipe in an error does not break the table
    assert "| never | not polled yet | 0 / 0 | at start | — |" in table[6]


@pytest.mark.e2e
def test_the_index_tab_shows_the_feeds_and_polls_them_on_request(tmp_path, site):
    """`newsrag serve` with a feed: its start-up poll shows in the Index tab (real Chromium), and "Poll feeds now"
    polls again (a 304: nothing new) and says so."""
    import os

    from .conftest import served
    from .servers import free_port
    from .test_e2e import browsing

    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{tmp_path / "articles"}"\nindex_dir = "{tmp_path / "index"}"\n'
                      f'[ui]\nport = {port}\n[web]\ntimeout = 5.0\n[feeds]\nurls = ["{site.base}/feed.xml"]\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with served(config, port, tmp_path / "serve.log", env) as url:
        deadline = time.monotonic() + 120  # the start-up poll runs in the background
        while site.paths().count("/feed.xml") < 1 or not (tmp_path / "index" / "feeds").exists():
            assert time.monotonic() < deadline, "serve never polled its feed"
            time.sleep(0.5)
        with browsing(url) as tab:
            tab.locator('button[role="tab"]', has_text="Index").first.click()
            tab.wait_for_function("() => (document.querySelector('#nr-feeds') || {}).innerText?.includes('/ 2')",
                                  timeout=120_000)
            row = tab.locator("#nr-feeds tr", has_text="/feed.xml").inner_text()
            assert "added" in row and "2 / 2" in row
            tab.click("#nr-poll-feeds")
            tab.wait_for_function("() => (document.querySelector('#nr-feeds') || {}).innerText?.includes('unchanged')",
                                  timeout=120_000)
            assert "2 / 2" not in tab.locator("#nr-feeds tr", has_text="/feed.xml").inner_text()  # 0 new / 2 in all
    assert site.requests[-1][1] == '"v1"'  # the second poll was a conditional GET
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
