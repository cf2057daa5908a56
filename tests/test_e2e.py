"""The real app in a real browser: `newsrag serve` on a free port, driven by headless Chromium (playwright)
and by gradio_client. Saves docs/screenshot.png of an answered question."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import ARTICLES, BAD, ROOT, served
from .servers import free_port

pytestmark = pytest.mark.e2e
EXAMPLE = "Why is Putin turning to North Korea for weapons?"
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
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def server(root):
    with serving(root) as url:
        yield url


@contextmanager
def browsing(url: str) -> Iterator[Any]:
    """A headless Debian Chromium tab (playwright) on the page at ``url``, once the chat's question box is there."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(url)
        tab.wait_for_selector("#nr-question textarea", timeout=60_000)
        yield tab
        browser.close()


@pytest.fixture(scope="module")
def page(server):
    with browsing(server) as tab:
        yield tab


def ask(page, question: str) -> None:
    before = page.locator("#nr-chat .message").count() if page.locator("#nr-chat .message").count() else 0
    page.fill("#nr-question textarea", question)
    page.click("#nr-ask")
    answered(page, before)


def answered(page, before: int) -> None:
    """Waits until the conversation, ``before`` messages long when the question was sent, ends in a finished
    answer: a streamed one shows its [n] markers as plain text, with a ▌ cursor, before they become links."""
    page.wait_for_function(
        "n => document.querySelectorAll('#nr-chat .message').length >= n + 2", arg=before, timeout=60_000)
    page.wait_for_function(
        "() => { const m = document.querySelectorAll('#nr-chat .message'); const t = m[m.length - 1].innerText;"
        " return t && !t.includes('▌') && t.trim() !== '…'; }", timeout=120_000)
    page.wait_for_timeout(500)


def card(page, passage: str):
    """The source card holding the passage with id ``passage`` (``src-KEY-N``: source N of the answer at KEY)."""
    return page.locator(f".nr-source:has(#{passage})")


def shown(page) -> str:
    """The key of the answer whose sources the panel shows."""
    return page.locator(".nr-answer-sources:not(.nr-hidden)").get_attribute("data-answer")


def test_answer_with_citation_and_highlighted_source(page):
    ask(page, "What did retired Lt. Gen. Mark Hertling say about Putin?")
    answer = page.locator("#nr-chat .message").last.inner_text()
    assert "[1]" in answer
    marker = page.locator("#nr-chat a[href='#src-1-1']").last  # the first answer (message 1), its source 1
    marker.click()
    card = globals()["card"](page, "src-1-1")
    assert "nr-focus" in (card.get_attribute("class") or "")
    assert "nr-focus" in (page.locator("#src-1-1").get_attribute("class") or "")
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
    assert shown(page) == "3"  # the newest answer's sources
    source = card(page, "src-3-1")
    assert "date unknown" in source.inner_text() and "seven million" in source.locator("mark").first.inner_text()
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    page.screenshot(path=str(docs / "screenshot.png"), full_page=True)


def test_an_old_answers_citation_opens_its_own_source(page):
    assert shown(page) == "3" and "seven million" in page.locator("#src-3-1").inner_text()
    page.locator("#nr-chat a[href='#src-1-1']").first.click()  # [1] of the first answer, after a later answer
    page.wait_for_function("() => document.querySelector('.nr-answer-sources:not(.nr-hidden)').dataset.answer === '1'")
    assert page.locator("#src-1-1").is_visible() and not page.locator("#src-3-1").is_visible()
    assert "A retired US general says" in card(page, "src-1-1").inner_text()
    assert "seven million" not in page.locator(".nr-answer-sources:not(.nr-hidden)").inner_text()
    page.locator("#nr-chat a[href='#src-3-1']").first.click()  # and back to the second answer's
    page.wait_for_function("() => document.querySelector('.nr-answer-sources:not(.nr-hidden)').dataset.answer === '3'")


def test_an_example_question_sends_and_its_sources_are_one_card_per_article(page):
    before = page.locator("#nr-chat .message").count()
    page.locator("#nr-examples").get_by_text(EXAMPLE).click()
    answered(page, before)
    assert page.locator("#nr-chat .message.user").last.inner_text().strip() == EXAMPLE
    assert page.input_value("#nr-question textarea") == ""
    key = shown(page)
    block = page.locator(f'.nr-answer-sources[data-answer="{key}"]')
    articles = block.locator(".nr-source").evaluate_all("cs => cs.map(c => c.dataset.article)")
    assert len(articles) == len(set(articles)) >= 1  # one card per article
    passages = [block.locator(".nr-source").nth(i).locator(".nr-passage").count() for i in range(len(articles))]
    cited = set(page.locator("#nr-chat .message").last.locator("a[href^='#src-']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"))
    assert sum(passages) == len(cited) > len(articles)  # every cited passage, two of one article under one card
    grouped = block.locator(".nr-source").nth(passages.index(max(passages)))
    assert f"{max(passages)} passages" in grouped.locator(".nr-source-meta").inner_text()


def test_the_filters_in_effect_are_shown_above_the_answer_and_a_reversed_range_is_a_message(page):
    page.get_by_role("button", name="Options").click()
    page.fill("#nr-since textarea, #nr-since input", "2023-09-01")
    page.fill("#nr-until textarea, #nr-until input", "2023-09-30")
    ask(page, "What did retired Lt. Gen. Mark Hertling say about Putin?")
    message = page.locator("#nr-chat .message").last.inner_text()
    assert message.startswith("Filters: 1–30 Sept 2023") and "[1]" in message
    page.fill("#nr-since textarea, #nr-since input", "2023-09-30")
    page.fill("#nr-until textarea, #nr-until input", "2023-09-01")
    ask(page, "What did retired Lt. Gen. Mark Hertling say about Putin?")
    message = page.locator("#nr-chat .message").last.inner_text()
    assert "The date range is reversed: from 2023-09-30 to 2023-09-01. Swap the two dates." in message
    assert "ℹ️" not in message  # a message about the input, not a refusal
    page.fill("#nr-since textarea, #nr-since input", "")
    page.fill("#nr-until textarea, #nr-until input", "")


def test_only_configured_answerers_are_offered_and_another_says_what_to_set(page):
    note = page.locator("#nr-providers").inner_text()
    assert "llamacpp" in note and "[llm] model_path" in note and "ollama" in note and "[llm] model" in note
    page.locator("#nr-provider input").click()
    options = page.locator("ul[role=listbox] li").all_inner_texts()
    assert [o.replace("✓", "").strip() for o in options] == ["extractive"]  # the chosen one is ticked
    page.fill("#nr-provider input", "ollama")  # named anyway (the list allows typing): asked, and told what to set
    page.keyboard.press("Enter")
    ask(page, "What did retired Lt. Gen. Mark Hertling say about Putin?")
    message = page.locator("#nr-chat .message").last.inner_text()
    assert "The ollama provider needs [llm] model" in message
    page.fill("#nr-provider input", "extractive")
    page.keyboard.press("Enter")


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


def test_junk_upload_is_rejected_with_a_reason_listed_and_removed(page, tmp_path, root):
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
    failed = page.locator("#nr-failed")
    failed.get_by_text("uploads/junk.txt: binary file, not text").wait_for(timeout=60_000)
    assert "uploads/paper.pdf: damaged or truncated PDF" in failed.inner_text()
    failed.get_by_text("uploads/junk.txt").click()  # ticked
    page.click("#nr-remove-failed")
    page.wait_for_function("() => !document.querySelector('#nr-failed').innerText.includes('junk.txt')", timeout=60_000)
    assert "uploads/paper.pdf" in failed.inner_text()
    assert not (root / "articles" / "uploads" / "junk.txt").exists()
    assert (root / "articles" / "uploads" / "paper.pdf").exists()


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
    for wrong, words in ((dict(since="2023-09-30", until="2023-09-01"), "The date range is reversed"),
                         (dict(since="yesterday"), "since expects a date as YYYY-MM-DD"),
                         (dict(provider="ollama"), "The ollama provider needs [llm] model"),
                         (dict(top_k=100), "top_k must be between 1 and")):
        with pytest.raises(Exception, match=re.escape(words)):
            client.predict(question="How tall is the new crane in Orvik?", api_name="/answer", **wrong)
    chat = dict(message="How tall is the new crane in Orvik?", since="", until="", name="", api_name="/chat")
    with pytest.raises(Exception, match="Value 100 is greater than maximum value 12"):
        client.predict(**chat, top_k=100)  # Gradio's own check of the slider, told without a traceback
    conversation = client.predict(**chat, outlets=["Nobody News"])[0]  # an outlet the index lacks: no passage
    assert conversation[-1]["content"][0]["text"].startswith("*Filters: Nobody News*\n\nℹ️ ")


def test_no_traceback_in_the_servers_log(server, root):
    """Every wrong input above (a reversed range, an unconfigured answerer, junk uploads) was a message."""
    log = (root / "serve.log").read_text()
    assert "Traceback" not in log, log[-3000:]
