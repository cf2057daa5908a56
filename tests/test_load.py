"""Loaders: every format into Article fields; every kind of bad file into a clear reason."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ingest.clean import copyright_owner, markdown_to_text, strip_boilerplate
from ingest.load import canonical_url, load_file, parse_date
from rag.errors import LoadError

from .conftest import ARTICLES, BAD

pytestmark = pytest.mark.unit
SEEDS = Path(__file__).resolve().parent.parent / "data" / "articles"


def one(path: Path):
    loaded = load_file(path, root=path.parent)
    assert len(loaded.articles) == 1 and not loaded.errors
    return loaded.articles[0]


def test_plain_text_with_date_prefix_and_junk_trailer():
    a = one(ARTICLES / "glowfish_festival.txt")
    assert a.title == "Quillhaven to host the first Glowfish Festival, Zorbian ministry says"
    assert a.published == date(2024, 3, 12)
    assert a.outlet == "Zorbian Coastal Gazette Ltd."
    assert a.text.startswith("The Zorbian Ministry of Lighthouses announced")
    for junk in ("Source link", "Rate this post", "Leave a Comment", "Copyright", "All rights reserved"):
        assert junk not in a.text
    assert a.key == "file:glowfish_festival.txt" and a.source == "glowfish_festival.txt"


def test_bundled_sample_articles():
    first = one(SEEDS / "000_01a15b07aa252328.txt")
    assert first.published == date(2023, 9, 5)
    assert first.title.startswith("A retired US general says")
    second = one(SEEDS / "004_9012087371da2540.txt")
    assert second.title.startswith("Putin’s bid for North Korean weapons")
    assert second.outlet == "Nexstar Media Inc."
    assert not second.text.rstrip().endswith(("Leave a Comment", "Rate this post", "Source link"))
    assert "Nexstar" not in second.text


def test_markdown_front_matter_and_markup():
    a = one(ARTICLES / "rail_strike.md")
    assert a.title == "Rail workers in Velmora begin a three-day strike over pay"
    assert a.published == date(2024, 2, 20)
    assert a.outlet == "Velmora Daily"
    assert a.url == "https://velmora-daily.example/news/rail-strike"  # tracking parameter dropped
    assert "**" not in a.text and "](" not in a.text and not a.text.startswith("Rail workers")
    assert "walked out on Monday" in a.text and "union statement" in a.text


def test_html_metadata_and_body_without_chrome():
    a = one(ARTICLES / "harbour_bridge.html")
    assert a.title == "Harbour bridge in Port Tessaly reopens after eight months of repairs"
    assert a.published == date(2024, 1, 15)
    assert a.outlet == "Tessaly Times"
    assert a.url == "https://tessaly-times.example/2024/01/15/harbour-bridge-reopens"
    assert "212 steel cables" in a.text
    for chrome in ("trackingPixel", "display: block", "buy the new Tessaly phone", "Privacy", "Ferry fares"):
        assert chrome not in a.text


def test_html_time_element_date(tmp_path):
    body = " ".join(["The council met on Tuesday to discuss the new park and its trees."] * 6)
    page = tmp_path / "p.html"
    page.write_text(f"<html><head><title>Park plan approved</title></head><body><article><h1>Park plan approved</h1>"
                    f"<time datetime='2022-06-30T10:00'>30 June</time><p>{body}</p></article></body></html>")
    assert one(page).published == date(2022, 6, 30)


def test_json_object_and_jsonl_field_names():
    obs = one(ARTICLES / "observatory.json")
    assert (obs.title, obs.published, obs.outlet) == (
        "New observatory on Mount Kell records its first comet", date(2024, 4, 5), "Kell Science Weekly")
    assert obs.url == "https://kell-science.example/observatory-first-comet"
    wire = load_file(ARTICLES / "wire.jsonl", root=ARTICLES)
    assert [a.title for a in wire.articles] == [
        "Drought cuts olive harvest in Sarnia by a third", "Sarnia central bank holds interest rate at 4.5 percent"]
    assert [a.published for a in wire.articles] == [date(2023, 10, 11), date(2023, 10, 12)]
    assert {a.outlet for a in wire.articles} == {"Wire Example"}
    assert "<p>" not in wire.articles[1].text and "Governor Ada Min" in wire.articles[1].text


def test_json_list_and_wrapper(tmp_path):
    items = [{"title": f"T{i}", "text": f"Body number {i} of the list.", "url": f"https://x.example/{i}"} for i in range(3)]
    (tmp_path / "list.json").write_text(json.dumps(items))
    (tmp_path / "wrapped.json").write_text(json.dumps({"status": "ok", "articles": items}))
    assert len(load_file(tmp_path / "list.json").articles) == 3
    assert len(load_file(tmp_path / "wrapped.json").articles) == 3


def test_jsonl_bad_rows_cost_only_themselves(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"title": "Good", "text": "A good article body."}\n{"title": broken\n{"title": "No body"}\n')
    loaded = load_file(path)
    assert [a.title for a in loaded.articles] == ["Good"]
    assert [where for where, _ in loaded.errors] == ["mixed.jsonl line 2", "mixed.jsonl line 3"]
    assert "malformed JSON" in loaded.errors[0][1] and "no article text" in loaded.errors[1][1]


def test_realtimeqa_corpus_shape_loads(tmp_path):
    row = {"id": "x1", "title": "Teens and social media", "text": "CNN —\n\nTeens are entering the chat.",
           "url": "https://www.cnn.com/2022/11/16/health/teens#q1", "published": "2022-11-16", "source": ""}
    (tmp_path / "c.jsonl").write_text(json.dumps(row) + "\n")
    a = load_file(tmp_path / "c.jsonl").articles[0]
    assert a.url.endswith("#q1") and a.published == date(2022, 11, 16) and a.outlet == "cnn.com"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", "empty file"),
        ("binary.txt", "binary file"),
        ("invalid_utf8.txt", "not valid UTF-8"),
        ("malformed.json", "malformed JSON"),
        ("no_article.html", "no article text found in the HTML page"),
    ],
)
def test_bad_files_get_a_clear_reason(name, reason):
    with pytest.raises(LoadError, match=reason):
        load_file(BAD / name)


def test_oversized_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(50_000_000)
    with pytest.raises(LoadError, match=r"50\.0 MB, over the 20 MB limit"):
        load_file(big, max_bytes=20_000_000)


def test_unsupported_type(tmp_path):
    (tmp_path / "a.doc").write_bytes(b"\xd0\xcf\x11\xe0")  # old binary Word: save it as .docx
    with pytest.raises(LoadError, match=r"unsupported file type \.doc: expected one of .*\.docx.*\.pdf"):
        load_file(tmp_path / "a.doc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2023-09-05", date(2023, 9, 5)), ("2023-09-05T23:10:00Z", date(2023, 9, 5)),
     ("Sept 5, 2023", date(2023, 9, 5)), ("Tue, 05 Sep 2023 10:00:00 GMT", date(2023, 9, 5)),
     (1693900800, date(2023, 9, 5)), (1693900800000, date(2023, 9, 5)), ("not a date", None), ("", None)],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_canonical_url():
    assert canonical_url("HTTPS://WWW.Example.com:443/a?utm_source=x&id=3#frag") == "https://www.example.com/a?id=3#frag"
    assert canonical_url("") == ""


def test_copyright_and_boilerplate():
    assert copyright_owner("© 2023 Reuters") == "Reuters"
    assert copyright_owner("Copyright law is complex.") is None
    text, outlet = strip_boilerplate("Body line.\nAdvertisement\nMore body.\nCopyright 2020 Acme News Inc. All rights reserved.")
    assert text == "Body line.\nMore body." and outlet == "Acme News Inc."
    assert markdown_to_text("## Head\n\n**bold** [link](http://x) ![i](y.png)") == "Head\n\nbold link"
