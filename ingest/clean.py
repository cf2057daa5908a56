"""Boilerplate and markup removal for article text.

Everything here is a pure function of strings, so the offsets that chunks and
citations carry refer to the text these functions return.
"""

from __future__ import annotations

import re
import unicodedata

# Lines that are never part of an article when they stand alone.
_JUNK_LINE = re.compile(
    r"""^\W*(
        source\ link | rate\ this\ post | leave\ a\ (comment|reply) | share\ this( article| story)?:? |
        advertisement | ad | sponsored | related( articles| stories| content)?:? | read\ more:? |
        (click|tap)\ here\b.* | subscribe\b.* | sign\ up\b.* | follow\ us\b.* | share\ on\ \w+ |
        you\ may\ also\ like:? | recommended( for you)?:? | comments? | print | email | tweet | facebook |
        \d+\s+comments? | skip\ to\ (main\ )?content | back\ to\ top | loading\.* | image:.* | photo:.*
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)

_COPYRIGHT_LEAD = re.compile(r"^(?:copyright\b|©|\(c\)|\d{4}(?:\s*[-–]\s*\d{4})?|[\s,])+", re.IGNORECASE)
_COPYRIGHT_TAIL = re.compile(
    r"\ball rights reserved\b|\bthis (material|article|content)\b|\||\.\s+(?=[A-Z])(?<!Inc\.\s)(?<!Ltd\.\s)(?<!Co\.\s)",
    re.IGNORECASE,
)
_RIGHTS = re.compile(r"all rights reserved|may not be (published|reproduced|redistributed)", re.IGNORECASE)
_DATE_PREFIX = re.compile(r"^\s*date\s*[:\-]?\s*(\d{4}-\d{2}-\d{2})\b[\s:\-|]*", re.IGNORECASE)

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")  # a regex: str.translate with a dict is 20x slower
_SPACES = re.compile(r" {2,}")


def normalize(text: str) -> str:
    """Unicode NFC, unified newlines, no zero-width characters, tidy blank lines."""
    text = _ZERO_WIDTH.sub("", unicodedata.normalize("NFC", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\t", " ")
    text = "\n".join(line.strip() for line in _SPACES.sub(" ", text).split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def split_date_prefix(line: str) -> tuple[str | None, str]:
    """``"date 2023-09-05 Title"`` -> ``("2023-09-05", "Title")``; lines without one are returned as they are."""
    match = _DATE_PREFIX.match(line)
    if not match:
        return None, line
    return match.group(1), line[match.end():].strip()


def copyright_owner(line: str) -> str | None:
    """The publisher named by a copyright notice, or None when the line is not one."""
    stripped = line.strip()
    if not re.match(r"^(copyright\b|©|\(c\))", stripped, re.IGNORECASE):
        return None
    if not re.search(r"©|\(c\)|\b(19|20)\d{2}\b", stripped, re.IGNORECASE) and not _RIGHTS.search(stripped):
        return None
    owner = _COPYRIGHT_TAIL.split(_COPYRIGHT_LEAD.sub("", stripped), maxsplit=1)[0].strip(" ,;:-")
    if not owner or _RIGHTS.search(owner) or len(owner) > 60 or len(owner.split()) > 7 or not re.search(r"[A-Za-z]", owner):
        return ""
    return owner if re.search(r"\b(Inc|Ltd|Co|Corp)\.$", owner) else owner.rstrip(".")


def strip_boilerplate(text: str) -> tuple[str, str]:
    """Remove junk lines (anywhere when they stand alone) and copyright trailers.

    Returns the cleaned text and the outlet named by a copyright notice ("" if none).
    """
    outlet = ""
    kept: list[str] = []
    for line in text.split("\n"):
        if line and _JUNK_LINE.match(line):
            continue
        owner = copyright_owner(line)
        if owner is not None:
            outlet = outlet or owner
            continue
        kept.append(line)
    return normalize("\n".join(kept)), outlet


_MD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL), r"\1"),  # fenced code: keep content
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links -> text
    (re.compile(r"<[^>\n]+>"), ""),  # inline html tags
    (re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE), ""),  # heading markers
    (re.compile(r"^\s{0,3}>\s?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^\s*([-*+]|\d+\.)\s+", re.MULTILINE), ""),  # list markers
    (re.compile(r"^\s*([-*_]\s*){3,}$", re.MULTILINE), ""),  # horizontal rules
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])[*_](?!\s)(.+?)(?<!\s)[*_](?![\w*])"), r"\1"),  # italics
    (re.compile(r"`([^`]+)`"), r"\1"),  # inline code
]


def markdown_to_text(markdown: str) -> str:
    """Plain text from Markdown: markers, links and images removed, words kept."""
    text = markdown
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    return normalize(text)


def strip_html(fragment: str) -> str:
    """Text of a small HTML fragment (a JSON field that holds markup)."""
    import html

    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", fragment)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h\d>|</li>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return normalize(html.unescape(text))
