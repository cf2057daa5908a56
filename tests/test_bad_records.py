"""Records a user drops in that used to break a whole file or a whole run: lone surrogates, NUL bytes,
invalid UTF-8 in one line, repeated URLs, one-line notes, ambiguous numeric dates, odd file names."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest

from ingest.load import derive_title, load_file
from ingest.published import date_order, parse_date, read_date
from rag.errors import LoadError

pytestmark = pytest.mark.unit

GOOD = {"title": "Harbour reopens", "text": "The harbour of Orvik reopened on Monday after repairs, officials said."}


def jsonl(tmp_path, *lines: bytes | str, name: str = "feed.jsonl"):
    path = tmp_path / name
    path.write_bytes(b"\n".join(line.encode() if isinstance(line, str) else line for line in lines) + b"\n")
    return path


def row(**fields) -> str:
    return json.dumps({**GOOD, **fields})


# -- 1. unpaired surrogates ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_lone_surrogate_is_repaired_and_said(tmp_path, suffix):
    bad = '{"title": "Cut \\ud83d emoji", "text": "The export cut an emoji in half: \\ud83d here.", "url": "https://x.example/2"}'
    pair = '{"title": "Whole emoji", "text": "A whole emoji \\ud83d\\ude00 survives.", "url": "https://x.example/3"}'
    lines = [row(url="https://x.example/1"), bad, pair]
    path = jsonl(tmp_path, *lines) if suffix == ".jsonl" else tmp_path / "list.json"
    if suffix == ".json":
        path.write_text("[" + ",".join(lines) + "]")
    loaded = load_file(path)
    assert len(loaded.articles) == 3 and not loaded.errors
    cut, whole = loaded.articles[1], loaded.articles[2]
    for article in loaded.articles:
        article.content_hash()  # used to raise UnicodeEncodeError and abort the whole run
        for value in (article.title, article.text, article.outlet, article.url):
            value.encode("utf-8")
    assert cut.text == "The export cut an emoji in half: \ufffd here." and cut.title == "Cut \ufffd emoji"
    assert "2 unpaired UTF-16 surrogate(s)" in cut.note and "U+FFFD" in cut.note
    assert whole.text == "A whole emoji \U0001f600 survives." and not whole.note


def test_file_name_that_is_not_utf8_prints_and_hashes(tmp_path):
    path = tmp_path / os.fsdecode(b"caf\xe9.txt")
    path.write_text("Council approves park\n\nThe council approved the new park on Monday.")
    (article,) = load_file(path, root=tmp_path).articles
    assert article.source == "caf\\xe9.txt"
    article.content_hash()
    assert article.id.startswith("a")


def test_pasted_text_with_a_lone_surrogate_saves(tmp_path):
    from ingest.uploads import save_pasted

    from .conftest import make_settings

    path = save_pasted("Paste \ud83d", "A pasted body \ud83d with half an emoji.", make_settings(tmp_path))
    assert "\ufffd" in path.read_text(encoding="utf-8")


# -- 2. one bad line costs that line only -------------------------------------------------------------


@pytest.mark.parametrize("bad_line", [
    b'{"title": "NUL", "text": "a \x00 b"}',  # a raw NUL byte in the first 8 KB
    b"\x00\x01\x02\x03binary junk\x04\x05",
    b'{"title": "Latin-1", "text": "caf\xe9 au lait"}',  # not UTF-8
])
def test_a_bad_byte_in_one_jsonl_line_costs_that_line_only(tmp_path, bad_line):
    path = jsonl(tmp_path, row(url="https://x.example/1"), bad_line, row(url="https://x.example/3", title="Third"))
    loaded = load_file(path)
    assert [a.title for a in loaded.articles] == ["Harbour reopens", "Third"]
    assert [where for where, _ in loaded.errors] == ["feed.jsonl line 2"]


def test_an_all_binary_jsonl_file_is_one_reason(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(LoadError, match="binary"):
        load_file(path)


def test_a_jsonl_of_only_bad_lines_names_the_reason(tmp_path):
    path = jsonl(tmp_path, "{broken", "{broken too")
    with pytest.raises(LoadError, match=r"malformed JSON.*\(all 2 records\)"):
        load_file(path)


# -- 18. repeated URLs ----------------------------------------------------------------------------------


def test_repeated_url_with_same_content_is_a_duplicate_not_a_failure(tmp_path):
    path = jsonl(tmp_path, row(url="https://x.example/1"), row(url="https://x.example/2", title="Other"),
                 row(url="https://x.example/1"))
    loaded = load_file(path)
    assert not loaded.errors and [a.title for a in loaded.articles] == ["Harbour reopens", "Other"]
    assert loaded.repeats == (("feed.jsonl line 3", "Harbour reopens", "same URL and content as line 1"),)


def test_repeated_url_with_new_content_is_an_update_and_the_later_line_wins(tmp_path):
    path = jsonl(tmp_path, row(url="https://x.example/1"), row(url="https://x.example/1", text="Corrected body text."))
    loaded = load_file(path)
    (article,) = loaded.articles
    assert not loaded.errors and article.text == "Corrected body text."
    assert article.note == "replaces line 1 (same URL, changed content)"
    assert loaded.repeats == (("feed.jsonl line 1", "Harbour reopens",
                               "an earlier version of line 2 (same URL): the later record wins"),)


# -- 17. one-line notes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content"), [
    ("note.txt", "date 2023-09-20 The council approved the harbour budget on Wednesday."),
    ("note2.txt", "The council approved the harbour budget on Wednesday."),
    ("note.md", "The council approved the harbour budget on Wednesday.\n"),
    ("head.md", "# The council approved the harbour budget on Wednesday.\n"),
])
def test_a_one_line_note_is_an_article_with_a_derived_title(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    (article,) = load_file(tmp_path / name).articles
    assert article.text == "The council approved the harbour budget on Wednesday."
    assert article.title == article.text
    if name == "note.txt":
        assert article.published == date(2023, 9, 20)


def test_derived_titles_are_cut_at_a_word():
    assert derive_title("Short one. Then more.") == "Short one."
    long = "word " * 60
    title = derive_title(long)
    assert title.endswith("…") and len(title) <= 101 and "wor…" not in title


# -- 12. numeric dates: day first or month first --------------------------------------------------------


@pytest.mark.parametrize(("url", "outlet", "expected"), [
    ("https://www.bbc.co.uk/news/x", "", date(2023, 9, 5)),
    ("https://www.theguardian.com/world/x", "", date(2023, 9, 5)),
    ("https://www.abc.net.au/news/x", "", date(2023, 9, 5)),
    ("", "The Guardian", date(2023, 9, 5)),
    ("https://www.cnn.com/x", "", date(2023, 5, 9)),
    ("", "The New York Times", date(2023, 5, 9)),
    ("https://www.whitehouse.gov/x", "", date(2023, 5, 9)),
    ("https://news.example.com/x", "", None),  # unknown: never guessed
    ("", "", None),
])
def test_ambiguous_numeric_date_follows_the_outlet_or_stays_undated(url, outlet, expected):
    found, note = read_date("05/09/2023", url=url, outlet=outlet)
    assert found == expected
    assert note  # read by a rule, or left out: said either way
    if expected is None:
        assert "left undated" in note


@pytest.mark.parametrize(("value", "expected"), [
    ("25/09/2023", date(2023, 9, 25)),  # only one reading: the day is over 12
    ("09/25/2023", date(2023, 9, 25)),
    ("05/05/2023", date(2023, 5, 5)),
    ("05.09.2023", None), ("5-9-23", None),  # ambiguous, no outlet
    ("05/09", None), ("September 2023", None), ("5", None),  # no year, no day
    ("31/31/2023", None),
])
def test_numeric_dates_without_an_outlet(value, expected):
    assert parse_date(value) == expected


def test_outlet_orders():
    assert date_order("https://www.smh.com.au/x")[0] == "dmy"
    assert date_order("https://www.irishtimes.com/x")[0] == "dmy"
    assert date_order("https://apnews.com/x")[0] == "mdy"
    assert date_order("https://example.com/x") == (None, "")


@pytest.mark.parametrize(("suffix", "content"), [
    (".jsonl", row(url="https://www.bbc.co.uk/news/x", published="05/09/2023") + "\n"),
    (".txt", "Date: 05/09/2023\nSource: BBC News\n\nTitle\n\nThe body of the article."),
    (".md", "---\ntitle: T\ndate: 05/09/2023\nurl: https://www.bbc.co.uk/news/x\n---\nThe body of the article.\n"),
])
def test_article_dates_are_read_in_the_outlets_order_and_said(tmp_path, suffix, content):
    path = tmp_path / f"a{suffix}"
    path.write_text(content)
    (article,) = load_file(path).articles
    assert article.published == date(2023, 9, 5)
    assert "day first" in article.note


def test_an_ambiguous_date_of_an_unknown_outlet_is_left_out_and_said(tmp_path):
    path = jsonl(tmp_path, row(url="https://news.example.com/x", published="05/09/2023"))
    (article,) = load_file(path).articles
    assert article.published is None and "left undated" in article.note


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_utf16_and_utf32_files_with_a_byte_order_mark_are_read(tmp_path, encoding, suffix):
    text = row(title="Café ☕") if suffix == ".jsonl" else "Café ☕\n\nThe harbour reopened on Monday."
    path = tmp_path / f"wide{suffix}"
    data = text.encode(encoding)
    path.write_bytes(data if data.startswith((b"\xff\xfe", b"\xfe\xff")) else b"\xfe\xff" + data)
    (article,) = load_file(path).articles  # before: "binary file, not text"
    assert article.title == "Café ☕"
