"""The publication date of an article whose metadata has none: from its URL, else from its dateline.

Two places only, in this order:

1. the URL path: ``/2023/09/05/``, ``/2023-09-05/`` (htmldate's URL extractor),
   ``/20230905/`` and ``/2023/sep/05/`` (Guardian style), and a date in words in the slug
   (``.../things-to-know-5-september-2023``, or ``/2023/09/.../quiz-september-5-sec/`` where the
   path gives the year and the same month). A month alone (``/2023/09/``) is not a date.
2. a dateline at the start of the body (lines that begin in its first
   :data:`HEAD_CHARS` characters), in a shape that marks a publication date:
   ``WASHINGTON, Sept 5 (Reuters) -``, ``LONDON, Oct. 3, 2023 (AP) —``,
   ``Sept. 5, 2023 /PRNewswire/ --``, ``Published 10:05 AM EDT, Tue September 5, 2023``,
   ``Updated 3:12 PM EDT, September 5, 2023``. The regex finds the dateline;
   dateparser reads its date.

A dateline's day and month without a year (``WASHINGTON, Sept 5 (Reuters) -``) is a *yearless* date
(:func:`yearless_date`). It takes the year that puts it nearest to a reference date, never after ``today``
(:func:`resolve_yearless`): the loader uses ``today``; the indexer then uses the corpus's own "today"
(the newest date several of its articles reach), so that a 2023 archive's "Sept 5" is 5 September
2023, not the September before the day it was ingested.

Nothing else: a date in the running text is an event, not the publication date,
so an article without a URL date or a dateline stays undated (None). Dates before
:data:`EARLIEST` or after ``today`` + 1 day are rejected.

Metadata dates (a JSON field, a ``Date:`` line, front matter) are read by :func:`read_date`. A
numeric date whose day and month could be swapped (``05/09/2023``) is never guessed: it is read
in the order the outlet writes dates (:func:`date_order`: British, Irish, Australian, Indian ...
outlets and country domains day first; US outlets and ``.us``/``.gov`` month first), and when that
order is unknown the article stays undated, with a note that says why. A date without a year
(``05/09``, ``September 5``) or without a day (``September 2023``) is not a date.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal
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
# -- a date written in words in the slug: .../ten-things-to-know-12-december-2021, .../quiz-september-21-2023,
# or .../2023/09/.../quiz-september-21-sec when the path's year and month agree with the slug's month
_SLUG_DAY = r"(?P<day>[12]\d|3[01]|0?[1-9])"
_SLUG_MONTH = r"(?P<month>[a-z]{3,9})"
_SLUG_YEAR = r"(?P<year>199\d|20\d\d)"
_SLUG_DATES = tuple(re.compile(rf"(?:^|[/_-]){shape}", re.IGNORECASE) for shape in (
    rf"{_SLUG_DAY}-{_SLUG_MONTH}-{_SLUG_YEAR}(?=$|/|\.html?$)", rf"{_SLUG_MONTH}-{_SLUG_DAY}-{_SLUG_YEAR}(?=$|/|\.html?$)",
    rf"{_SLUG_MONTH}-{_SLUG_DAY}(?=$|[/_.-])"))
_URL_YEAR_MONTH = re.compile(r"/(199\d|20\d\d)/(0[1-9]|1[0-2])/")

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
    """The publication date from the URL path, else from a dateline at the start of ``text``, else a yearless
    date (:func:`yearless_date`) in the year nearest ``today`` that is not after it; None when unsure."""
    return infer_date(text, url, today=today)[0]


def infer_date(text: str, url: str = "", *, today: date | None = None) -> tuple[date | None, tuple[int, int] | None]:
    """:func:`infer_published`'s date, and its (month, day) when it was read without a year."""
    today = today or date.today()
    found = url_date(url, today=today)
    if found is not None:
        return found, None
    found, partial = _read_dateline(text, today)
    if found is None and partial is not None:
        return resolve_yearless(partial, today, today), partial
    return found, None


def yearless_date(text: str) -> tuple[int, int] | None:
    """(month, day) of a dateline without a year (``WASHINGTON, Sept 5 (Reuters) -``); None when the dateline
    gives a full date or there is none. A slug's day and month without a year (``quiz-of-the-week-30-september-
    6-october``) names the period a page covers, not the day it was published: not read (README, Quality)."""
    return _read_dateline(text, date.today())[1]


def resolve_yearless(month_day: tuple[int, int], reference: date, today: date) -> date | None:
    """The date with ``month_day`` nearest ``reference`` (a year before, the same or the next), never after
    ``today`` nor before :data:`EARLIEST`; ties go to the earlier."""
    month, day = month_day
    options = [d for year in (reference.year - 1, reference.year, reference.year + 1)
               if (d := _safe_date(year, month, day)) is not None and EARLIEST <= d <= today]
    return min(options, key=lambda d: (abs((d - reference).days), d), default=None)


def url_date(url: str, *, today: date | None = None) -> date | None:
    """A full date (year, month and day) in the URL's path; a month alone is not enough."""
    path = urlsplit(url).path if url else ""
    if not path:
        return None
    today = today or date.today()
    return next((day for day in (_htmldate_url(path, today), _compact_url(path), _month_word_url(path),
                                 _slug_url(path)) if day is not None and _plausible(day, today)), None)


def _read_dateline(text: str, today: date) -> tuple[date | None, tuple[int, int] | None]:
    """One pass over the datelines, best first: the first dated one that is plausible, and the (month, day) of a
    yearless one that comes before any dated one (a later dated one still wins)."""
    partial: tuple[int, int] | None = None
    dated_seen = False
    for words in _dateline_words(text):
        if re.search(_YEAR, words):
            dated_seen = True
            day = _parse_words(words, today)
            if day is not None and _plausible(day, today):
                return day, None
        elif partial is None and not dated_seen:
            parsed = _parse_words(words, date(2000, 12, 31))  # 2000: a leap year, so 29 February stays
            partial = (parsed.month, parsed.day) if parsed is not None else None
    return None, partial


def _dateline_words(text: str) -> list[str]:
    """The date words of the datelines and stamps that start a line near the top of ``text``, best first."""
    head = _head(text)
    candidates: list[tuple[int, int, str]] = []  # (rank, position, date words)
    for match in _STAMP.finditer(head):
        updated = match.group("kind").lower() in ("updated", "last updated", "last modified")
        candidates.append((1 if updated else 0, match.start(), match.group("date")))
    for match in _WIRE.finditer(head):
        # a bare "January 3 - ..." is a timeline entry: a wire dateline has a place or an agency
        if match.group("agency") or (match.group("place") and match.group("dash")):
            candidates.append((0, match.start(), match.group("date")))
    return [words for _, _, words in sorted(candidates)]


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
    month = _month_number(match.group(2))
    return _safe_date(int(match.group(1)), month, int(match.group(3))) if month else None


def _month_number(word: str) -> int | None:
    word = word.lower()
    return _MONTHS.get(word) or (_MONTHS[word[:3]] if word in _FULL_MONTHS else None)


def _slug_url(path: str) -> date | None:
    """A day and a month name in the slug: with a year that ends the slug (``.../things-to-know-12-december-2021``;
    a date inside a slug, ``remembering-september-11-2001-victims``, is an event) or with the path's
    ``/year/month/`` in the same month (``/2023/09/us/quiz-september-21-sec/``). A month name and day alone
    is not a date."""
    folder = _URL_YEAR_MONTH.search(path)
    for match in (m for shape in _SLUG_DATES for m in shape.finditer(path)):
        month = _month_number(match.group("month"))
        if month is None:
            continue
        year = match.groupdict().get("year")
        if year:
            found = _safe_date(int(year), month, int(match.group("day")))
        elif folder and int(folder.group(2)) == month:
            found = _safe_date(int(folder.group(1)), month, int(match.group("day")))
        else:
            continue
        if found is not None:
            return found
    return None


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


# -- metadata dates: day first or month first ------------------------------------------------------

Order = Literal["dmy", "mdy"]
_NUMERIC = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}|\d{2}))?(?=$|[\sT,])")
# Outlets by name or host word, and country domains, whose numeric dates are known to run day first
# or month first. Generic domains (.com, .org, .net, .io ...) say nothing.
_DAY_FIRST_NAMES = re.compile(
    r"\b(bbc|guardian|theguardian|independent|telegraph|sky ?news|dailymail|daily mail|mirror|thetimes|"
    r"the times|financial times|ft|economist|reuters\.co\.uk|abc\.net|smh|the age|theage|news\.com|"
    r"irishtimes|irish times|rte|aljazeera|al jazeera|dw|france24|euronews|thehindu|the hindu|"
    r"timesofindia|scmp|straitstimes|stuff)\b")
_MONTH_FIRST_NAMES = re.compile(
    r"\b(cnn|nytimes|new york times|washingtonpost|washington post|foxnews|fox news|nbcnews|nbc news|"
    r"cbsnews|cbs news|abcnews|abc news|usatoday|usa today|npr|wsj|wall street journal|politico|thehill|"
    r"the hill|apnews|associated press|latimes|los angeles times|nypost|new york post|axios|cnbc|"
    r"businessinsider|newsweek|huffpost|foxbusiness|bostonglobe|chicagotribune|theatlantic|vox)\b")
_DAY_FIRST_TLDS = frozenset(re.findall(r"\w+", """
    uk au nz ie in za de fr es it nl be ch at pt br ar cl ru ua pl cz sk hu ro bg gr tr il eg ng ke gh
    pk bd lk sg my id vn th se no dk fi is ee lv lt hr rs si mt cy lu"""))
_MONTH_FIRST_TLDS = frozenset(("us", "gov", "mil", "ph"))


def date_order(url: str = "", outlet: str = "") -> tuple[Order | None, str]:
    """How the outlet writes numeric dates ("dmy" or "mdy", or None when unknown), and what told us."""
    host = (urlsplit(url).hostname or "") if url else ""
    names = f"{outlet} {host}".casefold()
    for pattern, order in ((_DAY_FIRST_NAMES, "dmy"), (_MONTH_FIRST_NAMES, "mdy")):
        found = pattern.search(names)
        if found:
            return order, found.group(1)  # type: ignore[return-value]
    tld = host.rsplit(".", 1)[-1] if "." in host else ""
    if tld in _DAY_FIRST_TLDS:
        return "dmy", host
    if tld in _MONTH_FIRST_TLDS:
        return "mdy", host
    return None, ""


def read_date(value: Any, *, url: str = "", outlet: str = "") -> tuple[date | None, str]:
    """A publication date from metadata, and a note when reading it took a decision (or refused one).

    ISO strings, written forms ("Sept 5, 2023", RFC 822) and Unix timestamps are read as they are.
    A numeric ``d/m/y`` date is read by :func:`date_order` when both orders are valid; otherwise
    it is None with a note. Years outside 1800-2200 are None.
    """
    if isinstance(value, str) and (match := _NUMERIC.match(value)):
        return _numeric(match, value.strip(), url, outlet)
    return parse_date(value), ""


def _numeric(match: re.Match[str], shown: str, url: str, outlet: str) -> tuple[date | None, str]:
    first, second, year_text = int(match.group(1)), int(match.group(2)), match.group(3)
    if not year_text:
        return None, f"date “{shown}” has no year: left undated"
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000 if year <= date.today().year % 100 + 1 else 1900
    note = ""
    if first <= 12 and second <= 12 and first != second:
        order, why = date_order(url, outlet)
        if order is None:
            return None, (f"date “{shown}” could be day/month or month/day and the outlet's order is unknown: "
                          "left undated (write dates as YYYY-MM-DD)")
        day, month = (first, second) if order == "dmy" else (second, first)
        note = f"date “{shown}” read {'day' if order == 'dmy' else 'month'} first, as {why} writes dates"
    else:
        day, month = (first, second) if first > 12 or first == second else (second, first)
    found = _safe_date(year, month, day) if 1800 <= year <= 2200 else None
    return found, note if found else f"date “{shown}” is not a valid date"


def parse_date(value: Any) -> date | None:
    """A publication date from an ISO string, a written form with day, month and year, or a Unix timestamp;
    None if unparseable, incomplete or ambiguous (see :func:`read_date`)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc).date()
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _NUMERIC.match(text):
        return read_date(text)[0]
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text)
    if match:
        day = _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    else:
        day = _written_date(text)
    return day if day is not None and 1800 <= day.year <= 2200 else None


def _written_date(text: str) -> date | None:
    """dateutil's reading, only when the text names a year, a month and a day (two defaults must agree)."""
    from dateutil import parser as date_parser

    try:
        one = date_parser.parse(text[:200], default=datetime(2000, 1, 1)).date()
        two = date_parser.parse(text[:200], default=datetime(2001, 2, 2)).date()
    except (ValueError, OverflowError, TypeError):
        return None
    return one if one == two else None
