"""The real app in a real browser: `newsrag serve` on a free port, driven by headless Chromium (playwright)
and by gradio_client. Saves docs/screenshot.png of an answered question."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import ARTICLES, BAD, ROOT, free_port, served

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@contextmanager
def serving(root: Path, before: Callable[[list[str], dict[str, str]], object] | None = None) -> Iterator[str]:
    """`newsrag serve` on a free port over the sample articles, indexed in ``root``; its URL. ``before(cli, env)``
    runs after indexing, before the server starts (``cli`` is the command line up to the subcommand). A ``root``
    served before is served again as it is, on the same port (a restart)."""
    config = root / "config.toml"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cli = [sys.executable, "-m", "rag.cli", "--config", str(config)]
    if not config.exists():
        articles = root / "articles"
        shutil.copytree(ROOT / "data" / "articles", articles)
        config.write_text(f'[paths]\narticles_dir = "{articles}"\nindex_dir = "{root / "index"}"\n'
                          f'[ui]\nport = {free_port()}\n')
        subprocess.run([*cli, "ingest", "-q"], cwd=ROOT, env=env, check=True, timeout=300)
        if before is not None:
            before(cli, env)
    port = int(config.read_text().rsplit("port = ", 1)[1].strip())
    with served(config, port, root / "serve.log", env) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("e2e")) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(server)
        tab.wait_for_selector("#nr-question textarea", timeout=60_000)
        yield tab
        browser.close()


def ask(page, question: str) -> None:
    before = page.locator("#nr-chat .message").count() if page.locator("#nr-chat .message").count() else 0
    page.fill("#nr-question textarea", question)
    page.click("#nr-ask")
    page.wait_for_function(
        "n => document.querySelectorAll('#nr-chat .message').length >= n + 2", arg=before, timeout=60_000)
    page.wait_for_function(
        "() => { const m = document.querySelectorAll('#nr-chat .message'); const t = m[m.length - 1].innerText;"
        " return t && !t.includes('▌') && t.trim() !== '…'; }", timeout=120_000)
    page.wait_for_timeout(500)


def test_answer_with_citation_and_highlighted_source(page):
    ask(page, "What did retired Lt. Gen. Mark Hertling say about Putin?")
    answer = page.locator("#nr-chat .message").last.inner_text()
    assert "[1]" in answer
    marker = page.locator("#nr-chat a[href='#src-1']").last
    marker.click()
    card = page.locator("#src-1")
    assert "nr-focus" in (card.get_attribute("class") or "")
    assert "A retired US general says" in card.inner_text()
    highlighted = card.locator("mark").first.inner_text()
    assert highlighted and highlighted.split()[0] in card.inner_text()
    labels = page.locator("#nr-chat button").evaluate_all("bs => bs.map(b => b.getAttribute('aria-label') || b.title)")
    assert "Copy conversation" in labels, labels  # the chat's own buttons are there
    assert all(labels), labels  # and each says what it does: the unlabelled one was the share icon, which cannot work


def test_the_first_natural_question_is_answered_from_the_undated_article(page):
    ask(page, "How many artillery rounds has Russia fired in Ukraine this year?")
    message = page.locator("#nr-chat .message").last
    assert "seven million" in message.locator("strong").first.inner_text()  # the answering span leads, in bold
    assert "this year" in message.inner_text()  # the dates read from the question are shown
    card = page.locator("#src-1")
    assert "date unknown" in card.inner_text() and "seven million" in card.locator("mark").first.inner_text()
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    page.screenshot(path=str(docs / "screenshot.png"), full_page=True)


def test_upload_a_new_article_then_ask_about_it(page):
    page.get_by_role("tab", name="Index").click()
    page.set_input_files("#nr-upload input[type=file]", [str(ARTICLES / "glowfish_festival.txt")])
    page.wait_for_timeout(1000)
    page.click("#nr-index-files")
    page.wait_for_function("() => document.querySelector('#nr-summary') &&"
                           " document.querySelector('#nr-summary').innerText.includes('added')", timeout=120_000)
    assert "glowfish_festival.txt" in page.locator("#nr-report").inner_text()
    page.get_by_role("tab", name="Chat").click()
    ask(page, "Which town will host the first Glowfish Festival?")
    assert "Quillhaven" in page.locator("#nr-chat .message").last.inner_text()
    assert "Glowfish" in page.locator("#nr-sources").inner_text()


def test_junk_upload_is_rejected_with_a_reason(page, tmp_path):
    junk = tmp_path / "junk.txt"
    shutil.copy(BAD / "binary.txt", junk)
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4 not an article")
    page.get_by_role("tab", name="Index").click()
    page.set_input_files("#nr-upload input[type=file]", [str(junk), str(pdf)])
    page.wait_for_timeout(1000)
    page.click("#nr-index-files")
    page.wait_for_function("() => document.querySelector('#nr-summary').innerText.includes('failed')", timeout=120_000)
    table = page.locator("#nr-report").inner_text()
    assert "binary file, not text" in table and "damaged or truncated PDF" in table


def test_gradio_client_api(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    result = client.predict(question="Which town will host the first Glowfish Festival?", api_name="/answer")
    assert "Quillhaven" in result["text"] and result["citations"][0]["title"].startswith("Quillhaven")
    article = tmp_path / "orvik.md"
    article.write_text("---\ntitle: Orvik harbour gets a new crane\ndate: 2024-05-06\n---\n\n"
                       "The port of Orvik installed a 60-metre crane on Monday, doubling its container capacity.\n")
    rows, summary, *_ = client.predict(files=[handle_file(str(article))], api_name="/ingest_files")
    assert "1 added" in summary
    result = client.predict(question="How tall is the new crane in Orvik?", api_name="/answer")
    assert "60-metre" in result["text"]
