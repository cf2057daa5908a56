"""Uploads land safely in the articles folder; pages and feeds served from 127.0.0.1 are indexed; --watch."""

from __future__ import annotations

import time

import pytest

from ingest.uploads import safe_name, save_pasted, save_uploads
from ingest.web import ingest_urls
from rag.store import get_store

from .conftest import ARTICLES, LocalServer, QuietHandler, make_settings

PAGE = """<html><head><title>Lantern parade in Orvik | Orvik Herald</title>
<meta property="og:site_name" content="Orvik Herald">
<meta property="article:published_time" content="2024-05-02T09:00:00Z">
<link rel="canonical" href="{base}/news/lantern-parade"></head>
<body><nav><a href="/">Home</a></nav><article><h1>Lantern parade in Orvik draws record crowd</h1>
<p>More than 12,000 people joined the spring lantern parade in Orvik on Wednesday evening, the largest crowd in the
festival's sixty-year history, the organisers said.</p>
<p>The parade followed the river from the old mill to the cathedral square, where the mayor, Ilka Brenn, lit the
great lantern at midnight. Police reported no incidents.</p></article></body></html>"""

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Orvik Herald</title><link>{base}/</link><description>News</description>
<item><title>Lantern parade in Orvik draws record crowd</title><link>{base}/news/lantern-parade</link>
<pubDate>Thu, 02 May 2024 09:00:00 GMT</pubDate></item>
<item><title>Orvik ferry timetable changes</title><link>{base}/news/ferry</link>
<pubDate>Fri, 03 May 2024 09:00:00 GMT</pubDate></item>
</channel></rss>"""

FERRY = """<html><head><title>Orvik ferry timetable changes</title>
<meta property="article:published_time" content="2024-05-03T09:00:00Z"></head><body><article>
<h1>Orvik ferry timetable changes</h1><p>From June the Orvik ferry will sail every forty minutes instead of every hour,
the harbour authority said on Friday, after passenger numbers rose by a quarter last year. The first ferry will leave
at five in the morning and the last at midnight.</p></article></body></html>"""


class Site(LocalServer):
    """A tiny web site on 127.0.0.1 that counts the requests it gets."""

    def __init__(self) -> None:
        site = self
        self.hits: list[str] = []

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.hits.append(self.path)
                pages = {"/news/lantern-parade": ("text/html; charset=utf-8", PAGE),
                         "/news/ferry": ("text/html; charset=utf-8", FERRY),
                         "/feed.xml": ("application/rss+xml", FEED)}
                if self.path == "/slow":
                    time.sleep(3)
                if self.path not in pages:
                    self.send_error(404)
                    return
                kind, body = pages[self.path]
                self.send(kind, body.format(base=site.base))

        super().__init__(Handler)


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "expected"),
    [("../../etc/passwd", "passwd"), ("..\\..\\win.txt", "win.txt"), (".hidden.md", "hidden.md"),
     ("My Article (final).HTML", "My_Article_final.html"), ("", "article"), ("/abs/path/news.jsonl", "news.jsonl")],
)
def test_safe_name(name, expected):
    assert safe_name(name) == expected


@pytest.mark.unit
def test_uploads_stay_in_the_articles_folder_and_never_overwrite(tmp_path):
    settings = make_settings(tmp_path, tmp_path / "articles", ui={"max_upload_files": 4, "max_upload_mb": 0.001})
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("Title one\n\nBody one.")
    two.write_text("Title two\n\nBody two.")
    big = tmp_path / "big.txt"
    big.write_text("x" * 5000)
    saved = save_uploads([("../../outside.txt", one), ("../../outside.txt", two), ("../../outside.txt", one),
                          ("report.doc", one), ("big.txt", big)], settings)
    folder = (tmp_path / "articles" / "uploads").resolve()
    assert [s.path.name if s.path else None for s in saved] == ["outside.txt", "outside-2.txt", "outside.txt", None, None]
    assert all(s.path.resolve().parent == folder for s in saved if s.path)
    assert not (tmp_path / "outside.txt").exists()
    assert "unsupported file type .doc" in saved[3].reason
    assert "upload limit" in saved[4].reason or "files per upload" in saved[4].reason
    assert (folder / "outside.txt").read_text() == "Title one\n\nBody one."


@pytest.mark.unit
def test_upload_count_limit(tmp_path):
    settings = make_settings(tmp_path, tmp_path / "articles", ui={"max_upload_files": 1})
    saved = save_uploads([("a.txt", ARTICLES / "glowfish_festival.txt"), ("b.txt", ARTICLES / "glowfish_festival.txt")],
                         settings)
    assert saved[0].path is not None and saved[1].path is None and "max_upload_files" in saved[1].reason


@pytest.mark.integration
def test_pasted_article_is_indexed_as_a_file(tmp_path, embedder):
    from datetime import date

    from ingest.index import ingest_paths

    settings = make_settings(tmp_path, tmp_path / "articles")
    path = save_pasted("Orvik bakery wins prize", "The Orvik bakery on Mill Street won the national rye bread prize.",
                       settings, published=date(2024, 5, 1), outlet="Orvik Herald", url="")
    report = ingest_paths([path], settings, embedder=embedder)
    assert report.totals["added"] == 1
    record = next(iter(get_store(settings, embedder.name).records().values()))
    assert (record.title, record.published, record.outlet) == ("Orvik bakery wins prize", "2024-05-01", "Orvik Herald")


@pytest.mark.integration
def test_page_and_feed_from_a_local_server(tmp_path, embedder, site):
    settings = make_settings(tmp_path, tmp_path / "articles")
    page = ingest_urls([f"{site.base}/news/lantern-parade"], settings, embedder=embedder)
    assert [i.outcome for i in page.items] == ["added"]
    store = get_store(settings, embedder.name)
    record = next(iter(store.records().values()))
    assert record.title == "Lantern parade in Orvik draws record crowd" and record.published == "2024-05-02"
    assert record.url == f"{site.base}/news/lantern-parade" and record.outlet == "Orvik Herald"

    site.hits.clear()
    feed = ingest_urls([f"{site.base}/feed.xml"], settings, embedder=embedder)
    assert sorted(i.outcome for i in feed.items) == ["added", "unchanged"]
    assert "/news/lantern-parade" not in site.hits  # already indexed: not fetched again
    site.hits.clear()
    again = ingest_urls([f"{site.base}/feed.xml"], settings, embedder=embedder)
    assert [i.outcome for i in again.items] == ["unchanged", "unchanged"] and again.chunks_embedded == 0
    assert site.hits == ["/feed.xml"]


@pytest.mark.integration
def test_bad_urls_get_reasons(tmp_path, embedder, site):
    settings = make_settings(tmp_path, tmp_path / "articles", web={"timeout": 1.0})
    report = ingest_urls([f"{site.base}/missing", f"{site.base}/slow", "http://127.0.0.1:9/nothing"], settings,
                         embedder=embedder)
    reasons = [i.reason for i in report.items]
    assert "HTTP 404" in reasons[0]
    assert "no answer from" in reasons[1] and "within 1 s" in reasons[1]
    assert "cannot fetch" in reasons[2] and report.failed


@pytest.mark.integration
def test_cli_ingest_url(tmp_path, embedder, site, capsys):
    from rag import cli

    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\narticles_dir = "{tmp_path / "a"}"\nindex_dir = "{tmp_path / "i"}"\n')
    assert cli.main(["--config", str(config), "ingest", f"{site.base}/news/ferry"]) == 0
    assert "added" in capsys.readouterr().out


@pytest.mark.integration
def test_watch_reindexes_new_and_removed_files(tmp_path, embedder):
    from ingest.watch import start_watcher

    folder = tmp_path / "articles"
    folder.mkdir()
    settings = make_settings(tmp_path, folder)
    store = get_store(settings, embedder.name)
    thread, stop = start_watcher(settings)
    try:
        time.sleep(1.0)
        (folder / "glow.txt").write_text((ARTICLES / "glowfish_festival.txt").read_text())

        def articles() -> int:
            return sum(1 for r in store.records().values() if r.status == "done")

        deadline = time.monotonic() + 90
        while articles() != 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert articles() == 1
        (folder / "glow.txt").unlink()
        deadline = time.monotonic() + 90
        while articles() != 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert articles() == 0
    finally:
        stop.set()
        thread.join(timeout=10)
