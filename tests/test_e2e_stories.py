"""The Digest and Timeline tabs in a real browser: `newsrag serve` over a small corpus with known dates and outlets
(a rail strike told by two outlets over three days, one undated report of it, an olive harvest told by one),
driven by headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, served
from .servers import free_port
from .test_e2e import browsing

pytestmark = pytest.mark.e2e

STRIKE = ("Rail workers in Velmora began a strike over pay, and {count} workers stopped trains between Velmora and "
          "Ostrand, union leader Mara Quell said on {weekday}.\n\nThe Velmora Rail Union asked the transport ministry "
          "for talks on pay and rail safety.\n")
ARTICLES = {
    "s1.txt": ("Velmora rail strike begins", "2024-02-20", "Velmora Gazette", "Tuesday", "1,200"),
    "s2.txt": ("Velmora rail strike spreads", "2024-02-21", "Ostrand Wire", "Wednesday", "2,500"),
    "s3.txt": ("Velmora rail strike, day three", "2024-02-22", "Velmora Gazette", "Thursday", "4,000"),
}
OLIVES = ("Title: Sarnia olive harvest falls\nDate: 2024-02-21\nOutlet: Sarnia Post\n\nFarmers in Sarnia expect a "
          "smaller olive harvest after a dry summer, the farmers' union of the Sarnia valley said on Wednesday.\n")
UNDATED = ("Title: Velmora rail strike explained\nOutlet: Ostrand Wire\n\n" + STRIKE.format(count="some", weekday="Monday"))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e-stories")
    articles = root / "articles"
    articles.mkdir()
    for name, (title, day, outlet, weekday, count) in ARTICLES.items():
        (articles / name).write_text(f"Title: {title}\nDate: {day}\nOutlet: {outlet}\nURL: https://news.test/{name[:-4]}"
                                     f"\n\n{STRIKE.format(count=count, weekday=weekday)}")
    (articles / "olives.txt").write_text(OLIVES)
    (articles / "undated.txt").write_text(UNDATED)
    config = root / "config.toml"
    port = free_port()
    config.write_text(f'[paths]\narticles_dir = "{articles}"\nindex_dir = "{root / "index"}"\n[ui]\nport = {port}\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    subprocess.run([sys.executable, "-m", "rag.cli", "--config", str(config), "ingest", "-q"], cwd=ROOT, env=env,
                   check=True, timeout=300)
    with served(config, port, root / "serve.log", env) as url, browsing(url) as tab:
        yield tab


def open_tab(page, name: str) -> None:
    page.locator('button[role="tab"]', has_text=name).first.click()


def test_the_digest_ranks_stories_by_outlets_with_cited_leads_and_a_markdown_export(page):
    open_tab(page, "Digest")
    page.wait_for_selector("#nr-digest .nr-story", timeout=60_000)  # the default week, shown on load
    head = page.locator("#nr-digest .nr-digest-head").inner_text()
    assert "15–22 Feb 2024" in head and "2 stories" in head
    stories = page.locator("#nr-digest .nr-story")
    assert stories.count() == 2
    strike, olives = stories.nth(0), stories.nth(1)
    assert strike.locator(".nr-outlets").get_attribute("data-count") == "2"
    assert "2 outlets (Ostrand Wire, Velmora Gazette)" in strike.inner_text()
    assert "3 articles" in strike.inner_text() and strike.locator(".nr-newest").inner_text() == "22 Feb 2024"
    lead = strike.locator(".nr-lead").first
    assert "4,000 workers stopped trains" in lead.inner_text()  # the newest article's lead, verbatim
    assert lead.locator("a").get_attribute("href") == "https://news.test/s3"
    assert "1 outlet (Sarnia Post)" in olives.inner_text()
    page.get_by_text("Markdown", exact=True).first.click()  # the accordion holding the export
    page.wait_for_function("() => (document.querySelector('#nr-dg-markdown')?.innerText || '').includes(\"What's new\")",
                           timeout=10_000)
    assert "`newsrag timeline " in page.locator("#nr-dg-markdown").inner_text()
    assert page.locator("#nr-dg-download").is_enabled()


def test_a_digest_storys_link_opens_its_timeline_in_date_order_with_figures(page):
    open_tab(page, "Digest")
    story = page.locator("#nr-digest .nr-story").first.get_attribute("data-story")
    page.locator("#nr-digest .nr-story").first.locator("a.nr-open-timeline").click()
    page.wait_for_selector(f'#nr-timeline .nr-timeline[data-story="{story}"]', timeout=30_000)
    assert page.locator("#nr-tl-query textarea, #nr-tl-query input").first.input_value() == story
    events = page.locator("#nr-timeline .nr-event")
    days = events.evaluate_all("es => es.map(e => e.dataset.day)")
    assert days == ["2024-02-20", "2024-02-21", "2024-02-22", ""]  # oldest first, the undated report last
    assert "date unknown" in events.nth(3).inner_text()
    assert "Ostrand Wire" in events.nth(1).inner_text() and "1,200 workers" in events.nth(0).inner_text()
    figure = page.locator('#nr-timeline .nr-figure[data-key="worker"]')
    assert figure.locator(".nr-figure-value b").all_inner_texts() == ["1,200", "2,500", "4,000"]


def test_the_timeline_tells_no_match_a_bad_date_and_an_empty_window(page):
    open_tab(page, "Timeline")
    box = page.locator("#nr-tl-query textarea, #nr-tl-query input").first
    box.fill("zebra crossing")
    page.click("#nr-tl-show")
    page.wait_for_function("() => (document.querySelector('#nr-timeline')?.innerText || '').includes('No story matches')",
                           timeout=30_000)
    box.fill("Velmora strike")
    page.locator("#nr-tl-since textarea, #nr-tl-since input").first.fill("2024-02-31")
    page.click("#nr-tl-show")
    page.wait_for_function("() => (document.querySelector('#nr-timeline')?.innerText || '').includes('expects a date')",
                           timeout=30_000)
    page.locator("#nr-tl-since textarea, #nr-tl-since input").first.fill("2024-03-01")
    page.click("#nr-tl-show")
    page.wait_for_function("() => (document.querySelector('#nr-timeline')?.innerText || '').includes('has no articles')",
                           timeout=30_000)
    open_tab(page, "Digest")
    page.locator("#nr-dg-since textarea, #nr-dg-since input").first.fill("2024-03-01")
    page.locator("#nr-dg-until textarea, #nr-dg-until input").first.fill("2024-03-07")
    page.click("#nr-dg-show")
    page.wait_for_function("() => (document.querySelector('#nr-digest')?.innerText || '').includes('No articles were')",
                           timeout=30_000)
    assert not page.locator("#nr-dg-download").is_enabled()


def test_the_tabs_endpoints_answer_from_python(page):
    from gradio_client import Client

    client = Client(page.url.split("?")[0], verbose=False)
    timeline = client.predict(query="Velmora strike", since="", until="", api_name="/timeline")
    assert timeline.count('class="nr-event"') == 4 and 'data-key="worker"' in timeline
    _, markdown, download = client.predict(since="", until="", api_name="/digest")
    assert markdown.startswith("# What's new from 2024-02-15 to 2024-02-22: 2 stories")
    assert download["interactive"] and download["value"].endswith("newsrag-digest-2024-02-15-to-2024-02-22.md")
    assert Path(download["value"]).read_text(encoding="utf-8").rstrip() == markdown.rstrip()  # the file is what is shown
