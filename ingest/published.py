"""The publication date of an article whose metadata has none: from its URL, else from its dateline.

Two places only, in this order:

1. the URL path: ``/2023/09/05/``, ``/2023-09-05/`` (htmldate's URL extractor),
   ``/20230905/`` and ``/2023/sep/05/`` (Guardian style). A month alone
   (``/2023/09/``) is not a date.
2. a dateline at the start of the body (lines that begin in its first
   :data:`HEAD_CHARS` characters), in a shape that marks a publication date:
   ``WASHINGTON, Sept 5 (Reuters) -``, ``LONDON, Oct. 3, 2023 (AP) —``,
   ``Sept. 5, 2023 /PRNewswire/ --``, ``Published 10:05 AM EDT, Tue September 5, 2023``,
   ``Updated 3:12 PM EDT, September 5, 2023``. The regex finds the dateline;
   dateparser reads its date, giving a date without a year the year that puts it on
   or before ``today``.

Nothing else: a date in the running text is an event, not the publication date,
so an article without a URL date or a dateline stays undated (None). Dates before
:data:`EARLIEST` or after ``today`` + 1 day are rejected.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

EARLIEST = date(1990, 1, 1)
HEAD_CHARS = 300  # a dateline starts a line within this many characters of the body's start

_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
           "sept": 9, "oct": 10, "nov": 11, "dec": 12}

_FULL_MONTHS = frozenset(("january", "february", "march", "april", "june", "july", "august", "september",
                          "october", "november", "december"))

# -- URL forms htmldate does not read: /20230905/ and /2023/sep/05/ ------------------------------
_URL_COMPACT = re.compile(r"(?:^|[/_.-])((?:199\d|20\d\d)(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?=$|[/_.-])")
_URL_MONTH_WORD = re.compile(r"/(199\d|20\d\d)/([a-z]{3,9})/(\d{1,2})(?=$|/)", re.IGNORECASE)

# -- datelines -------------------------------------------------------------------------------------
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
          r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?")
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?!\d)"
_YEAR = r"(?:19|20)\d\d(?!\d)"
_DATE = rf"(?P<date>{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?|{_DAY}\s+{_MONTH}(?:,?\s+{_YEAR})?)"
_WEEKDAY = r"(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs?)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?,?\s+"
_TIME = r"\d{1,2}[:.]\d{2}\s*(?:[AaPp]\.?[Mm]\.?)?\s*(?:[A-Z]{2,5}\b)?,?\s+"
_AGENCY = r"(?P<agency>\([A-Z][^()\n]{0,40}\)|/[A-Z][^/\n]{0,40}/)"
_DASH = r"(?P<dash>--?|[–—])"
# WASHINGTON, | SAN FRANCISCO, Calif., | KYIV, Ukraine,  (the city in capitals, then an optional region)
_PLACE = r"(?P<place>[A-Z][A-Z.'’-]+(?:\s+[A-Z][A-Z.'’-]+)*(?:,\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,2})?),\s+"

_STAMP = re.compile(  # Published 10:05 AM EDT, Tue September 5, 2023 | Updated 3:12 PM EDT, September 5, 2023
    rf"^\s*(?P<kind>Published|Updated|Posted|First published|Last updated|Last modified)(?:\s+on)?:?\s+"
    rf"(?:{_TIME})?(?:on\s+)?(?:{_WEEKDAY})?{_DATE}",
    re.MULTILINE | re.IGNORECASE,
)
_WIRE = re.compile(  # WASHINGTON, Sept 5 (Reuters) - | LONDON, Oct. 3, 2023 (AP) — | Sept. 5, 2023 /PRNewswire/ --
    rf"^\s*(?:{_PLACE}(?:{_WEEKDAY})?)?{_DATE}\s*(?:{_AGENCY}\s*)?{_DASH}?",
    re.MULTILINE,
)


def infer_published(text: str, url: str = "", *, today: date | None = None) -> date | None:
    """The publication date from the URL path, else from a dateline at the start of ``text``; None when unsure."""
    today = today or date.today()
    return url_date(url, today=today) or dateline_date(text, today=today)


def url_date(url: str, *, today: date | None = None) -> date | None:
    """A full date (year, month and day) in the URL's path; a month alone is not enough."""
    path = urlsplit(url).path if url else ""
    if not path:
        return None
    today = today or date.today()
    return next((day for day in (_htmldate_url(path, today), _compact_url(path), _month_word_url(path))
                 if day is not None and _plausible(day, today)), None)


def dateline_date(text: str, *, today: date | None = None) -> date | None:
    """The date of a dateline that starts a line in the first :data:`HEAD_CHARS` characters of ``text``.

    A ``Published`` stamp or a wire dateline wins over an ``Updated`` stamp.
    """
    today = today or date.today()
    head = _head(text)
    candidates: list[tuple[int, int, str]] = []  # (rank, position, date words)
    for match in _STAMP.finditer(head):
        updated = match.group("kind").lower() in ("updated", "last updated", "last modified")
        candidates.append((1 if updated else 0, match.start(), match.group("date")))
    for match in _WIRE.finditer(head):
        # a bare "January 3 - ..." is a timeline entry: a wire dateline has a place or an agency
        if match.group("agency") or (match.group("place") and match.group("dash")):
            candidates.append((0, match.start(), match.group("date")))
    for _, _, words in sorted(candidates):
        day = _parse_words(words, today)
        if day is not None and _plausible(day, today):
            return day
    return None


# -- helpers -----------------------------------------------------------------------------------------


def _head(text: str) -> str:
    """The lines that start within the first HEAD_CHARS characters (the last one whole, up to a limit)."""
    end = text.find("\n", HEAD_CHARS)
    return text[: HEAD_CHARS + 200] if end < 0 else text[: min(end, HEAD_CHARS + 200)]


def _plausible(day: date, today: date) -> bool:
    return EARLIEST <= day <= today + timedelta(days=1)


def _htmldate_url(path: str, today: date) -> date | None:
    """htmldate's URL extractor: /2023/09/05/, /2023-09-05/, /2023_09_05/."""
    from htmldate.extractors import extract_url_date
    from htmldate.utils import Extractor

    # positional: (extensive, max, min, original, format), as in htmldate 1.9 and later
    options = Extractor(False, datetime.combine(today + timedelta(days=1), datetime.max.time()),
                        datetime.combine(EARLIEST, datetime.min.time()), True, "%Y-%m-%d")
    found = extract_url_date(path, options)
    return date.fromisoformat(found) if found else None


def _compact_url(path: str) -> date | None:
    match = _URL_COMPACT.search(path)
    if not match:
        return None
    digits = match.group(1)
    return _safe_date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def _month_word_url(path: str) -> date | None:
    match = _URL_MONTH_WORD.search(path)
    if not match:
        return None
    word = match.group(2).lower()
    month = _MONTHS.get(word) or (_MONTHS[word[:3]] if word in _FULL_MONTHS else None)
    return _safe_date(int(match.group(1)), month, int(match.group(3))) if month else None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _parse_words(words: str, today: date) -> date | None:
    """Dateparser reads the dateline's date; a missing year is the latest that keeps it on or before today."""
    import dateparser

    settings = {
        "PREFER_DATES_FROM": "past",
        "RELATIVE_BASE": datetime.combine(today, datetime.max.time()),
        "REQUIRE_PARTS": ["day", "month"],
    }
    try:
        parsed = dateparser.parse(words, languages=["en"], settings=settings)
    except (ValueError, OverflowError):  # pragma: no cover - dateparser validates its own output
        log.debug("dateline date not understood: %r", words)
        return None
    return parsed.date() if parsed else None
