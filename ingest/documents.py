"""Readers for office documents: ``.pdf`` (pypdf) and ``.docx`` (python-docx), each file one article.

What is read, and what is not:

* Title: the document's own title (PDF ``/Title``, DOCX core property ``title``) unless it is a word
  processor's placeholder ("Microsoft Word - x.doc", "Untitled", "Word Document"); else the DOCX's
  first heading; else the first line of text.
* Date: the text's own date first (a dateline, as for every format: :func:`ingest.published.infer_published`);
  only when the text has none, the file's creation date (PDF ``/CreationDate``, DOCX ``created``), else its
  modification date, when plausible (:data:`ingest.published.EARLIEST` to tomorrow). A file date says when
  the file was made, which is often but not always the publication date, so the article's note says where
  its date came from.
* Outlet: never from the document's metadata. ``/Producer`` and ``/Creator`` name software, and ``/Author``
  (DOCX ``author``) is a person or whoever's computer saved the file; the outlet comes from the text as for
  every format (a copyright line naming a publisher).
* PDF text: pages in order; NFKC-normalised (the "ﬁ" ligature becomes "fi"); a word hyphenated at a line
  end joined ("govern-\\nment" -> "government"); a line repeated at the top or bottom of most pages (a
  running header, a footer, "Page 3 of 9") removed; lines wrapped inside a paragraph joined.
* No OCR: a PDF whose pages have no text layer (scanned images) is refused with that reason.

Bounds: the file size limit (``[ingest] max_file_mb``, applied before parsing), at most :data:`MAX_PAGES`
pages, :data:`PDF_SECONDS` of text extraction, and for a DOCX at most :data:`MAX_UNZIPPED` bytes unpacked
(a zip bomb is refused before python-docx opens it). Every failure is a :class:`LoadError` with one reason.
"""

from __future__ import annotations

import io
import logging
import re
import time
import unicodedata
import zipfile
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from ingest.files import DOCUMENT_TYPES
from ingest.published import EARLIEST
from rag.errors import LoadError
from rag.schema import Article

log = logging.getLogger(__name__)

MAX_PAGES = 500  # a PDF with more pages is a book or a report, not an article
PDF_SECONDS = 10.0  # text extraction stops (the file is refused) after this long; a 20-page article takes < 1 s
MAX_UNZIPPED = 200_000_000  # bytes a DOCX may unpack to
NO_TEXT_LAYER = "no text layer: scanned pages need OCR, which newsrag does not do"
_PLACEHOLDER_TITLE = re.compile(r"^(untitled|document\d*|word document|microsoft word - .*|powerpoint presentation"
                                r"|\S+\.(docx?|pdf|odt|rtf|tex|txt))$", re.IGNORECASE)
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[a-zß-öø-ÿ])")  # "govern-\nment", not "-\nThe"
_SENTENCE_END = re.compile(r"[.!?:;\"”’)\]]$")


def read_document(data: bytes, suffix: str, source: str) -> Article:
    """The article in a PDF or DOCX file's bytes, or a LoadError with the reason it has none."""
    if DOCUMENT_TYPES[suffix] == "pdf":
        return parse_pdf(data, source)
    return parse_docx(data, source)


# -- PDF -------------------------------------------------------------------------------------------------


def parse_pdf(data: bytes, source: str) -> Article:
    """A PDF's text layer as one article (see the module docstring)."""
    from pypdf import PdfReader  # imported outside the try: a missing library is not a damaged file

    if b"%PDF-" not in data[:1024]:
        raise LoadError("not a PDF file (no %PDF- header)")
    try:
        title, dates, pages = _pdf_contents(PdfReader(io.BytesIO(data), strict=False))
    except LoadError:
        raise
    except RecursionError as exc:
        raise LoadError("damaged PDF: its objects nest without end") from exc
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on damaged files; each becomes this file's reason
        raise LoadError(f"damaged or truncated PDF ({type(exc).__name__}: {_brief(exc)})") from exc
    if not "".join(pages).strip():
        raise LoadError(NO_TEXT_LAYER)
    return _article(pdf_text(pages), title, dates, source, "PDF")


def _pdf_contents(reader: Any) -> tuple[str, list[Any], list[str]]:
    from pypdf import PasswordType

    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise LoadError("encrypted PDF: it needs a password; save a copy without one")
    count = len(reader.pages)
    if count == 0:
        raise LoadError("PDF has no pages")
    if count > MAX_PAGES:
        raise LoadError(f"PDF has {count} pages, over the limit of {MAX_PAGES}: a book or a report, not an article")
    meta = reader.metadata or {}
    title, created, modified = (str(meta[key]) if key in meta else "" for key in ("/Title", "/CreationDate", "/ModDate"))
    dates = [created, modified]
    started = time.monotonic()
    pages = []
    for number, page in enumerate(reader.pages, start=1):
        if time.monotonic() - started > PDF_SECONDS:
            raise LoadError(f"PDF text extraction took over {PDF_SECONDS:g} s (stopped at page {number} of {count})",
                            transient=True)
        pages.append(page.extract_text() or "")
    return title, dates, pages


def pdf_text(pages: list[str]) -> str:
    """The pages' text as an article body: NFKC, running headers and footers removed, hyphenated and
    wrapped lines joined, pages separated by a blank line."""
    lines = [[line.strip() for line in unicodedata.normalize("NFKC", page).splitlines()] for page in pages]
    lines = [[line for line in page if line] for page in lines]
    running = _running_lines(lines)
    kept = [[line for i, line in enumerate(page) if not ((i < 2 or i >= len(page) - 2) and _shape(line) in running)]
            for page in lines]  # only at the top or bottom: the same line in the body stays
    text = "\n\n".join("\n".join(page) for page in kept)
    text = _HYPHEN_BREAK.sub("", text)
    return _unwrap(text)


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", line.casefold())


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Lines (digits ignored, so page numbers match) among the first or last two of most pages, for 3+ pages."""
    if len(pages) < 3:
        return set()
    seen = Counter(shape for page in pages for shape in {_shape(line) for line in page[:2] + page[-2:]})
    return {shape for shape, n in seen.items() if n >= max(3, len(pages) * 0.6)}


def _unwrap(text: str) -> str:
    """Join a line to the next when it ends mid-sentence and the next goes on in lower case."""
    out: list[str] = []
    for line in text.split("\n"):
        if out and out[-1] and line and not _SENTENCE_END.search(out[-1]) and line[0].islower():
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


# -- DOCX ------------------------------------------------------------------------------------------------


def parse_docx(data: bytes, source: str) -> Article:
    """A Word document's paragraphs (headings included) and tables, in order, as one article."""
    if not data.startswith(b"PK\x03\x04"):
        raise LoadError("not a DOCX file (a DOCX is a zip archive, and this is not one)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise LoadError(f"damaged or truncated DOCX (not a readable zip archive: {exc})") from exc
    if "word/document.xml" not in names:
        raise LoadError("a zip archive, but not a Word document (no word/document.xml inside)")
    if unzipped > MAX_UNZIPPED:
        raise LoadError(f"DOCX unpacks to {unzipped / 1e6:.0f} MB, over the {MAX_UNZIPPED / 1e6:.0f} MB limit")
    import docx  # imported outside the try: a missing library is not a damaged file

    try:
        title, dates, text = _docx_contents(docx.Document(io.BytesIO(data)))
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-docx and lxml raise many kinds on damaged files
        raise LoadError(f"damaged DOCX ({type(exc).__name__}: {_brief(exc)})") from exc
    return _article(text, title, dates, source, "DOCX")


def _docx_contents(document: Any) -> tuple[str, list[Any], str]:
    from docx.table import Table

    props = document.core_properties
    blocks: list[str] = []
    heading = ""
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            blocks += [" | ".join(dict.fromkeys(cell.text.strip() for cell in row.cells)) for row in block.rows]
            continue
        text = block.text.strip()
        style = (block.style.name if block.style is not None else "") or ""
        if text and not heading and style.startswith(("Title", "Heading")):
            heading = text
        blocks.append(text)
    title = (props.title or "").strip()
    if not title or _PLACEHOLDER_TITLE.match(title):
        title = heading
    if not "".join(blocks).strip():
        raise LoadError("no article text (the Word document is empty)")
    return title, [props.created, props.modified], "\n".join(unicodedata.normalize("NFC", b) for b in blocks)


# -- shared ----------------------------------------------------------------------------------------------


def _article(text: str, title: str, dates: list[Any], source: str, kind: str) -> Article:
    """build_article with the title fallback (first line) and the file date used only when the text has none."""
    from ingest.load import TITLE_CHARS, build_article

    title = " ".join(title.split())
    if _PLACEHOLDER_TITLE.match(title):
        title = ""
    if not title:
        first, _, rest = text.strip().partition("\n")
        if len(first) <= TITLE_CHARS * 3:
            title, text = first, rest
    article = build_article(title=title, text=text, source=source, key_hint=source)
    if article.published is None:
        for label, value in zip(("created", "modified"), dates):
            day = _file_date(value)
            if day is not None:
                note = f"date from the {kind} file's {label} date (the text gives none)"
                return replace(article, published=day, note="; ".join(n for n in (article.note, note) if n))
    return article


def _brief(exc: BaseException) -> str:
    """An exception's message on one line, cut to 120 characters."""
    return " ".join(str(exc).split())[:120]


def _file_date(value: Any) -> date | None:
    """A metadata date (datetime, or a PDF ``D:YYYYMMDD...`` string) when between EARLIEST and tomorrow."""
    if isinstance(value, str):
        match = re.match(r"^(?:D:)?(\d{4})(\d{2})(\d{2})", value.strip())
        try:
            value = date(*map(int, match.groups())) if match else None
        except ValueError:
            return None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        return None
    return value if EARLIEST <= value <= date.today() + timedelta(days=1) else None
