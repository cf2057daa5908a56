"""PDF and DOCX files made in tests, so the repository holds no binary fixtures.

:func:`make_pdf` writes a minimal valid PDF by hand (pypdf cannot typeset text): one Helvetica font whose
byte 0x80 is the "fi" ligature glyph (so extraction yields U+FB01, as real typeset PDFs do), one content
stream per page, an info dictionary and a correct xref table. :func:`make_docx` uses python-docx.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

LIGATURE = "\ufb01"  # "ﬁ", written as byte 0x80 of the font's encoding (cp1252's euro sign, so text must not hold one)


def _pdf_string(text: str) -> bytes:
    data = text.replace(LIGATURE, "\u20ac").encode("cp1252", "replace") if text else b""
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def make_pdf(pages: Sequence[Sequence[str]], *, title: str = "", created: str = "", producer: str = "",
             author: str = "") -> bytes:
    """A PDF whose pages hold these lines (a page of no lines has no text layer, like a scanned page)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",
                            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding"
                            b" << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [128 /fi] >> >>"]
    kids = []
    for lines in pages:
        if lines:
            shown = b" ".join(_pdf_string(line) + b" Tj T*" for line in lines)
            content = b"BT /F1 11 Tf 14 TL 72 760 Td " + shown + b" ET"
        else:
            content = b"0.5 g 72 72 450 650 re f"  # a grey box where a scan's image would be
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
                       b" /Contents %d 0 R >>" % len(objects))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    info = {"/Title": title, "/CreationDate": created, "/Producer": producer, "/Author": author}
    objects.append(b"<< " + b" ".join(k.encode() + b" " + _pdf_string(v) for k, v in info.items() if v) + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, len(objects), xref)
    return bytes(out)


def encrypt_pdf(data: bytes, password: str = "secret") -> bytes:
    """The PDF encrypted with a user password, by pypdf's writer."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: Sequence[str], *, heading: str = "", title: str = "", created: datetime | None = None,
              author: str = "", table: Sequence[Sequence[str]] = (), kicker: str = "") -> bytes:
    """A Word document: an optional kicker line, an optional level-1 heading, paragraphs, an optional table,
    core properties."""
    import docx

    document = docx.Document()
    if kicker:
        document.add_paragraph(kicker)
    if heading:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table):
            for cell, value in zip(row.cells, values):
                cell.text = value
    props = document.core_properties
    props.title, props.author = title, author
    if created is not None:
        props.created = props.modified = created
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
