"""PDF and DOCX articles (ingest/documents.py): read end to end through the real ingest and found by ``answer``;
every bad file fails alone with one reason; the text clean-up (ligatures, hyphens, running headers) and the
metadata rules (title placeholders, a file date only when the text has none, never an outlet from metadata)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest

from ingest import documents
from ingest.index import ingest_paths
from ingest.load import load_file
from rag.errors import LoadError
from rag.service import answer

from .conftest import make_settings
from .doc_files import LIGATURE, encrypt_pdf, make_docx, make_pdf

HEADER = "Quillhaven Gazette"
PDF_PAGES = [
    [HEADER, "Harbour council approves the tidal barrier",
     "LONDON, Sept 5, 2023 (Reuters) - The Quillhaven council approved the tidal barrier after a long govern-",
     f"ment review of the {LIGATURE}nancial case, officials said on Tuesday.", "Page 1 of 3"],
    [HEADER, "The tidal barrier will be built by Marrowstone Engineering for 41 million pounds.",
     "Work on the barrier starts next spring and should end in 2026.", "Page 2 of 3"],
    [HEADER, "Residents welcomed the plan at a crowded meeting in the town hall.", "Page 3 of 3"],
]
DOCX_LINES = ["The Brackenfold cheese fair will move to the old tram depot next year, its organisers said.",
              "The depot offers three times the floor space of the market hall, which the fair outgrew in 2022.",
              "Stallholders from nine counties are expected."]


def good_pdf() -> bytes:
    return make_pdf(PDF_PAGES, created="D:20200101120000Z", producer="LibreOffice 7.5", author="Jane Reporter")


def good_docx() -> bytes:
    return make_docx(DOCX_LINES, heading="Cheese fair moves to the tram depot", created=datetime(2023, 4, 5, 9, 30),
                     author="jsmith", table=[["Year", "Visitors"], ["2022", "12,000"]])


def not_a_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photos/readme.txt", "holiday photos")
    return out.getvalue()


BAD = {  # file -> (bytes, the reason's words)
    "scanned.pdf": (lambda: make_pdf([[], []]), documents.NO_TEXT_LAYER),
    "locked.pdf": (lambda: encrypt_pdf(good_pdf()), "encrypted PDF: it needs a password"),
    "truncated.pdf": (lambda: good_pdf()[:700], "damaged or truncated PDF"),
    "garbage.pdf": (lambda: b"%PDF-1.4\n" + b"\x00\xff garbage" * 60, "damaged or truncated PDF"),
    "renamed.pdf": (lambda: b"Just some text saved with the wrong name.", "not a PDF file"),
    "truncated.docx": (lambda: good_docx()[:900], "damaged or truncated DOCX"),
    "photos.docx": (not_a_docx, "a zip archive, but not a Word document"),
    "long.pdf": (lambda: make_pdf([["A line of a long report."]] * 4), "PDF has 4 pages, over the limit of 3"),
}


@pytest.mark.integration
def test_pdf_and_docx_are_ingested_and_answer_questions_while_bad_files_fail_alone(tmp_path, embedder, monkeypatch):
    monkeypatch.setattr(documents, "MAX_PAGES", 3)
    settings = make_settings(tmp_path)
    folder = settings.articles_dir
    folder.mkdir()
    (folder / "barrier.pdf").write_bytes(good_pdf())
    (folder / "cheese.docx").write_bytes(good_docx())
    for name, (data, _) in BAD.items():
        (folder / name).write_bytes(data())

    report = ingest_paths([folder], settings, embedder=embedder)
    items = {item.source: item for item in report.items}
    assert items["barrier.pdf"].outcome == "added" and items["barrier.pdf"].title == "Harbour council approves the tidal barrier"
    assert items["cheese.docx"].outcome == "added" and items["cheese.docx"].title == "Cheese fair moves to the tram depot"
    for name, (_, reason) in BAD.items():
        assert items[name].outcome == "failed" and reason in items[name].reason, (name, items[name].reason)
        assert "Traceback" not in items[name].reason and "\n" not in items[name].reason
    assert report.totals["added"] == 2

    pdf = answer("Who will build the Quillhaven tidal barrier?", settings=settings)
    assert pdf.refusal is None and "Marrowstone Engineering" in pdf.text
    assert pdf.citations[0].source == "barrier.pdf" and pdf.citations[0].published == date(2023, 9, 5)
    docx = answer("Where will the Brackenfold cheese fair move?", settings=settings)
    assert docx.refusal is None and "tram depot" in docx.text
    assert docx.citations[0].source == "cheese.docx" and docx.citations[0].published == date(2023, 4, 5)


@pytest.mark.unit
def test_pdf_text_is_cleaned_and_dated_by_its_text_before_its_file(tmp_path):
    path = tmp_path / "barrier.pdf"
    path.write_bytes(good_pdf())
    article = load_file(path).articles[0]
    assert "government review of the financial case" in article.text  # hyphen joined, ligature NFKC'd
    assert LIGATURE not in article.text and "govern-" not in article.text
    assert HEADER not in article.text and "Page 2 of 3" not in article.text  # on every page: running lines
    assert article.published == date(2023, 9, 5) and not article.note  # the dateline, not /CreationDate (2020)
    assert article.outlet == ""  # neither /Producer (software) nor /Author (a person) is an outlet


@pytest.mark.unit
@pytest.mark.parametrize(("created", "expected"), [
    ("D:20220304101500+01'00'", date(2022, 3, 4)),
    ("D:19700101000000Z", None),  # an unset clock, before EARLIEST
    ("D:20991231000000Z", None),  # in the future
    ("D:2023", None),
    ("", None),
])
def test_a_pdf_without_a_dateline_takes_its_file_date_only_when_plausible(tmp_path, created, expected):
    path = tmp_path / "memo.pdf"
    path.write_bytes(make_pdf([["Council memo", "The council met and agreed the budget for the year."]],
                              created=created, title="Microsoft Word - memo.docx"))
    article = load_file(path).articles[0]
    assert article.title == "Council memo"  # the placeholder /Title is not a title: the first line is
    assert article.published == expected
    assert ("created date" in article.note) == (expected is not None)


@pytest.mark.unit
def test_a_pdf_title_comes_from_its_info_dictionary(tmp_path):
    path = tmp_path / "x.pdf"
    path.write_bytes(make_pdf([["First line of the body.", "More body text here."]], title="Budget agreed"))
    article = load_file(path).articles[0]
    assert article.title == "Budget agreed" and article.text.startswith("First line of the body.")


@pytest.mark.unit
def test_docx_reads_headings_paragraphs_and_tables_in_order_and_its_core_properties(tmp_path):
    path = tmp_path / "cheese.docx"
    path.write_bytes(good_docx())
    article = load_file(path).articles[0]
    assert article.title == "Cheese fair moves to the tram depot"
    assert article.text.index("tram depot next year") < article.text.index("Stallholders") < article.text.index("12,000")
    assert "Year | Visitors" in article.text
    assert article.published == date(2023, 4, 5) and "DOCX file's created date" in article.note
    assert article.outlet == ""  # the author "jsmith" is not an outlet

    path.write_bytes(make_docx(["WASHINGTON, Oct. 3, 2023 (AP) — Congress passed the bill.", "More text."],
                               title="Bill passes", created=datetime(2021, 1, 1)))
    article = load_file(path).articles[0]
    assert article.title == "Bill passes" and article.published == date(2023, 10, 3) and not article.note


@pytest.mark.unit
def test_a_document_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.pdf"
    path.write_bytes(make_pdf([["word " * 100]] * 20))
    with pytest.raises(LoadError, match=r"max_file_mb"):
        load_file(path, max_bytes=2000)


@pytest.mark.unit
def test_running_headers_need_three_pages_and_page_numbers_match_by_shape():
    assert documents.pdf_text(["Gazette\nOne body line.", "Gazette\nAnother line."]).startswith("Gazette")
    bodies = ["Alpha went first.", "Bravo came next.", "Charlie stayed.", "Delta left."]
    text = documents.pdf_text([f"Gazette\n{body}\n{n}" for n, body in enumerate(bodies, start=1)])
    assert text == "\n\n".join(bodies)
    pages = [f"Gazette\nIntro {n}.\nMore {n}.\nGazette\nEnd {n}.\nLast {n}." for n in range(3)]
    assert documents.pdf_text(pages).count("Gazette") == 3  # in the body, not a running line
    assert documents.pdf_text(["A well-\nknown fact and a dash -\nThe next line."]) == \
        "A wellknown fact and a dash -\nThe next line."


@pytest.mark.unit
def test_placeholder_titles_give_way_to_the_first_heading_and_a_locked_pdf_says_so(tmp_path):
    path = tmp_path / "draft.docx"
    path.write_bytes(make_docx(["Body of the draft."], heading="Real headline", title="Word Document",
                               kicker="EXCLUSIVE"))
    assert load_file(path).articles[0].title == "Real headline"
    path = tmp_path / "locked.pdf"
    path.write_bytes(encrypt_pdf(good_pdf()))
    with pytest.raises(LoadError, match=r"^encrypted PDF: it needs a password; save a copy without one$"):
        load_file(path)
