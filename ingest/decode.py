"""Bytes to text for the loaders: size limit, binary detection, UTF-8 (or an HTML page's declared charset)
and unpaired UTF-16 surrogates.

Invariants:

* Every string returned here, and every string :func:`repair` returns, encodes as UTF-8: an unpaired
  surrogate (a JSON escape such as ``\\ud83d`` alone, half of a cut emoji) becomes U+FFFD, the
  replacement character, and is counted so the caller can say so. We repair rather than reject: the
  rest of the article is good text, and U+FFFD is what every UTF-8 decoder shows for such damage.
* A JSON Lines file is judged line by line (:func:`read_lines`): a NUL byte, a binary line or invalid
  UTF-8 costs that line only, never the lines beside it.
* A file that starts with a UTF-16 or UTF-32 byte order mark (Windows Notepad's "Unicode") is decoded
  as such; any other text must be UTF-8 (or, for HTML, the charset its ``<meta>`` declares): encodings
  are never guessed.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

from rag.errors import LoadError

HEAD_BYTES = 8192  # how much of a text file the binary check looks at
_SURROGATE = re.compile("[\ud800-\udfff]")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 first: its little-endian mark starts like UTF-16's


def _wide(data: bytes) -> str | None:
    """The text of a file marked as UTF-16 or UTF-32 by its byte order mark; None for other files."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid {encoding.upper()} text (its byte order mark says it is) at offset {exc.start}") from exc


def repair(text: str) -> tuple[str, int]:
    """``text`` with surrogate pairs joined and unpaired surrogates replaced by U+FFFD; and how many were replaced."""
    if not _SURROGATE.search(text):
        return text, 0
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return fixed, fixed.count("\ufffd") - text.count("\ufffd")


def display_path(path: Path | str) -> str:
    """A path as text that always prints: bytes of a file name that are not UTF-8 appear as ``\\xe9``."""
    import os

    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, or a LoadError for a missing, unreadable, empty or oversized file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}", transient=True) from exc
    if size == 0:
        raise LoadError("empty file")
    if size > max_bytes:
        raise LoadError(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit ([ingest] max_file_mb)")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}", transient=True) from exc


def looks_binary(head: bytes) -> bool:
    """A NUL byte, or more than 10% control characters other than tab, newlines and form feed."""
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return b"\x00" in head or controls > len(head) * 0.1


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"not valid UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from exc


def read_text(path: Path, max_bytes: int, *, html: bool = False) -> str:
    """The whole file as text (a BOM dropped), or a LoadError saying why it is not an article file.

    An HTML page that is not UTF-8 is decoded with the charset its ``<meta>`` declares.
    """
    data = read_bytes(path, max_bytes)
    wide = _wide(data)
    if wide is not None:
        if not wide.strip():
            raise LoadError("empty file (only white space)")
        return wide
    head = data[:HEAD_BYTES]
    if looks_binary(head):
        raise LoadError("binary file, not text")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = _utf8(data)
    except LoadError:
        declared = re.search(rb"""<meta[^>]+charset=["']?([\w-]+)""", head, re.IGNORECASE) if html else None
        if declared is None:
            raise
        try:
            text = data.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            raise LoadError(f"not valid UTF-8 text, nor the {declared.group(1).decode('ascii')} its <meta> declares; "
                            "save it as UTF-8") from None
    if not text.strip():
        raise LoadError("empty file (only white space)")
    return text


def read_lines(path: Path, max_bytes: int) -> Iterator[tuple[int, str | LoadError]]:
    """(line number, text) for each non-blank line; (line number, LoadError) for a line that is not text.

    A file with no text line at all is a whole-file LoadError.
    """
    data = read_bytes(path, max_bytes)
    wide = _wide(data)
    if wide is not None:
        data = wide.encode("utf-8", "surrogatepass")  # then judged line by line like any other file
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    good = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        if looks_binary(line[:HEAD_BYTES]):
            yield number, LoadError("binary data (NUL or control bytes), not a line of JSON")
            continue
        try:
            yield number, _utf8(line)
        except LoadError as exc:
            yield number, exc
            continue
        good += 1
    if not good:
        raise LoadError("empty file (only white space)" if not data.strip() else "binary file, not text")
