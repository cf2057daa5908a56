"""Saved chats in a real browser: `newsrag serve` on a free port with a real index, headless Chromium.
The conversation survives a reload, the sidebar lists it and the CLI's chats, chats resume, rate, export,
rename and delete; the store is read back with ChatStore to see what was saved."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rag.chats import ChatStore

from .test_e2e import BROWSER_ARGS, CHROMIUM, ROOT, ask, serving

pytestmark = pytest.mark.e2e
HERTLING = "What did retired Lt. Gen. Mark Hertling say about Putin?"
ROUNDS = "How many artillery rounds has Russia fired in Ukraine this year?"
CLI_QUESTION = "Why is Putin turning to North Korea for weapons?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, chats database): the sample articles indexed, a chat `cli-made` saved by the CLI, then the server."""
    root = tmp_path_factory.mktemp("e2e_chats")

    def cli_chat(cli: list[str], env: dict[str, str]) -> None:
        subprocess.run([*cli, "ask", "--chat", "cli-made", CLI_QUESTION], cwd=ROOT, env=env, check=True, timeout=300,
                       capture_output=True)

    with serving(root, cli_chat) as url:
        yield url, root / "index" / "chats" / "chats.sqlite3"


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        tab = browser.new_page(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
        tab.goto(server[0])
        tab.wait_for_selector("#nr-question textarea", timeout=60_000)
        yield tab
        browser.close()


def chats(server) -> list:
    with ChatStore(server[1]) as store:
        return store.list_chats()


def named(server, question: str) -> str:
    return next(c.name for c in chats(server) if c.title == question)


def wait_for_text(page, selector: str, text: str, present: bool = True) -> None:
    page.wait_for_function(
        "([sel, text, present]) => { const el = document.querySelector(sel);"
        " return !!el && el.innerText.includes(text) === present; }", arg=[selector, text, present], timeout=60_000)


def open_chat(page, text: str) -> None:
    page.locator("#nr-chats label", has_text=text).first.click()
    wait_for_text(page, "#nr-chat", text if text != "cli-made" else CLI_QUESTION)


def test_a_conversation_survives_a_reload_and_is_listed(page, server):
    ask(page, HERTLING)
    assert "[1]" in page.locator("#nr-chat .message").last.inner_text()
    page.reload()
    page.wait_for_selector("#nr-question textarea", timeout=60_000)
    wait_for_text(page, "#nr-chat", HERTLING)
    assert page.locator("#nr-chat .message.user").count() == 1
    assert "[1]" in page.locator("#nr-chat .message.bot").last.inner_text()
    assert "A retired US general says" in page.locator(".nr-source:has(#src-1-1)").inner_text()  # its sources too
    wait_for_text(page, "#nr-chats", HERTLING)
    name = named(server, HERTLING)
    with ChatStore(server[1]) as store:
        saved = store.export_json(name)["turns"]
    assert [t["question"] for t in saved] == [HERTLING] and saved[0]["settings"]["provider"]


def test_a_chat_made_with_the_cli_is_listed_and_opens(page, server):
    wait_for_text(page, "#nr-chats", "cli-made")
    open_chat(page, "cli-made")
    assert HERTLING not in page.locator("#nr-chat").inner_text()
    assert page.locator("#nr-chat .message.bot").count() == 1


def test_a_new_chat_then_resume_the_old_one(page, server):
    page.click("#nr-new-chat")
    page.wait_for_function("() => document.querySelectorAll('#nr-chat .message').length === 0", timeout=60_000)
    ask(page, ROUNDS)
    wait_for_text(page, "#nr-chats", ROUNDS[:50])  # titles are cut at 60 characters
    assert len(chats(server)) == 3 and chats(server)[0].title.startswith(ROUNDS[:50])  # newest first
    labels = page.locator("#nr-chats label").all_inner_texts()
    assert ROUNDS[:50] in labels[0] and any(HERTLING in x for x in labels[1:])
    open_chat(page, HERTLING)
    assert ROUNDS not in page.locator("#nr-chat").inner_text()
    ask(page, "What did he say about weapons?")  # the resumed chat goes on: a second turn in the same chat
    with ChatStore(server[1]) as store:
        assert len(store.history(named(server, HERTLING))) == 4
    assert page.locator("#nr-chat .message.user").count() == 2
    # the resumed answer's [1] still opens its own source, not the new answer's source 1
    assert page.locator(".nr-answer-sources:not(.nr-hidden)").get_attribute("data-answer") == "3"
    page.locator("#nr-chat a[href='#src-1-1']").first.click()
    page.wait_for_function("() => document.querySelector('.nr-answer-sources:not(.nr-hidden)').dataset.answer === '1'")
    assert "A retired US general says" in page.locator(".nr-source:has(#src-1-1)").inner_text()
    assert not page.locator("#src-3-1").is_visible()


def test_thumbs_up_is_saved_on_its_answer(page, server):
    name = named(server, HERTLING)
    page.locator("#nr-chat").get_by_role("button", name="Like", exact=True).first.click()
    for _ in range(60):
        with ChatStore(server[1]) as store:
            turns = store.export_json(name)["turns"]
        if turns[0]["feedback"]:
            break
        page.wait_for_timeout(500)
    assert turns[0]["feedback"]["rating"] == "up" and turns[1]["feedback"] is None
    page.fill("#nr-comment textarea", "Quoted   exactly.")
    page.click("#nr-save-comment")
    for _ in range(60):
        with ChatStore(server[1]) as store:
            feedback = store.export_json(name)["turns"][0]["feedback"]
        if feedback["comment"]:
            break
        page.wait_for_timeout(500)
    assert feedback == {**feedback, "rating": "up", "comment": "Quoted exactly."}


def test_the_export_download_holds_the_chat(page, server, tmp_path):
    with page.expect_download(timeout=60_000) as download:
        page.click("#nr-export")
    path = tmp_path / "chat.md"
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert HERTLING in text and "[1]" in text and ROUNDS not in text


def test_rename_then_delete(page, server):
    page.fill("#nr-rename-text textarea, #nr-rename-text input", "hertling talk")
    page.click("#nr-rename")
    wait_for_text(page, "#nr-chats", "hertling talk")
    with ChatStore(server[1]) as store:
        assert store.exists("hertling talk")
    page.click("#nr-delete")
    wait_for_text(page, "#nr-chats", "hertling talk", present=False)
    page.wait_for_function("() => document.querySelectorAll('#nr-chat .message').length === 0", timeout=60_000)
    with ChatStore(server[1]) as store:
        assert not store.exists("hertling talk") and HERTLING not in [c.title for c in store.list_chats()]
    page.reload()
    page.wait_for_selector("#nr-question textarea", timeout=60_000)
    wait_for_text(page, "#nr-chats", ROUNDS[:50])
    assert HERTLING not in page.locator("#nr-chats").inner_text()
    assert page.locator("#nr-chat .message").count() == 0  # the deleted chat is not reopened


def test_a_damaged_store_is_a_message_and_asking_still_works(page, server):
    for extra in ("-wal", "-shm"):
        Path(f"{server[1]}{extra}").unlink(missing_ok=True)
    server[1].write_bytes(b"not a database at all" * 200)
    page.click("#nr-new-chat")
    page.wait_for_function("() => document.querySelectorAll('#nr-chat .message').length === 0", timeout=60_000)
    ask(page, HERTLING)
    assert "[1]" in page.locator("#nr-chat .message.bot").last.inner_text()  # answered all the same
    page.get_by_text("This answer was not saved").first.wait_for(timeout=60_000)
    assert "is damaged" in page.locator("body").inner_text() and "Traceback" not in page.locator("body").inner_text()


def test_the_open_chat_comes_back_after_a_server_restart(page, tmp_path):
    tab = page.context.browser.new_page(viewport={"width": 1500, "height": 1000})  # a browser of its own
    with serving(tmp_path) as url:
        tab.goto(url)
        tab.wait_for_selector("#nr-question textarea", timeout=60_000)
        ask(tab, HERTLING)
    with serving(tmp_path) as again:  # a new server process, same port and files
        assert again == url
        tab.goto(url)
        tab.wait_for_selector("#nr-question textarea", timeout=60_000)
        wait_for_text(tab, "#nr-chat", HERTLING)
        assert "[1]" in tab.locator("#nr-chat .message.bot").last.inner_text()
        wait_for_text(tab, "#nr-chats", HERTLING)
    tab.close()
