"""Date ranges named in a question: "in September 2023", "last week", "since Monday", ...

Relative expressions are resolved against ``today``, which the caller supplies
(by default the newest article's date, so an archive from 2023 answers "last
week" about its own last week).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from rag.schema import DateRange, Filters

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_MONTH = (r"(january|february|march|april|may|june|july|august|september|october|november|december"
          r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?")
_YEAR = r"((?:19|20)\d{2})"
EARLIEST = date(1000, 1, 1)  # days outside these bounds are typos, and date arithmetic near date.min/max overflows
LATEST = date(2999, 12, 31)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10, "few": 3}


def parse_day(value: str | None, label: str) -> date | None:
    """A YYYY-MM-DD day typed by a person (a CLI flag, a UI field); None when empty.
    Raises InputError for anything else, or a day outside EARLIEST..LATEST."""
    from rag.errors import InputError

    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{label} expects a date as YYYY-MM-DD, got {value!r}") from exc
    if not EARLIEST <= day <= LATEST:
        raise InputError(f"{label} {value} is out of range: use a day between {EARLIEST} and {LATEST}")
    return day


def day_range(since: str | None, until: str | None, names: tuple[str, str] = ("since", "until")) -> tuple[date | None,
                                                                                                       date | None]:
    """The two YYYY-MM-DD days a person typed for a range (None when empty); InputError for a bad day or a reversed
    range (``names``: how the edge calls the two fields: "--since", "Since")."""
    from rag.errors import InputError

    first, last = parse_day(since, names[0]), parse_day(until, names[1])
    if first and last and first > last:
        raise InputError(f"The date range is reversed: {names[0]} {first} is after {names[1]} {last}. "
                         "Swap the two dates.")
    return first, last


def typed_filters(since: str | None, until: str | None, outlet: str | None) -> Filters:
    """The explicit filters from text an edge received (``ask_news``, the API's ``newsrag`` field, the UI's
    ``/answer``): YYYY-MM-DD days, inclusive, and one outlet. Raises InputError for a bad day."""
    outlets = (outlet.strip(),) if outlet and outlet.strip() else ()
    return Filters(since=parse_day(since, "since"), until=parse_day(until, "until"), outlets=outlets)


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _day(day: str, month: str, year: str | None, today: date) -> date | None:
    try:
        y = int(year) if year else today.year
        d = date(y, MONTHS[month.lower().rstrip(".")], int(day))
    except (ValueError, KeyError):
        return None
    if not year and d > today:  # "on 5 September" said in March means last September
        d = d.replace(year=d.year - 1)
    return d


def _dayish(text: str, today: date) -> date | None:
    """A single day: ISO, "5 September 2023", "September 5, 2023", weekday, yesterday, today."""
    text = text.strip().lower()
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    if m := re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?(?:\s+{_YEAR})?", text):
        return _day(m[1], m[2], m[3], today)
    if m := re.fullmatch(rf"{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?", text):
        return _day(m[2], m[1], m[3], today)
    if text in WEEKDAYS:
        back = (today.weekday() - WEEKDAYS[text]) % 7 or 7
        return today - timedelta(days=back)
    if text == "yesterday":
        return today - timedelta(days=1)
    if text == "today":
        return today
    return None


_DAY_PATTERN = (rf"\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?(?:\s+{_YEAR})?|"
                rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?|monday|tuesday|wednesday|thursday|friday|"
                r"saturday|sunday|yesterday|today")


UNKNOWN_DATE = "date unknown"


SHORT_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec")


def day_words(day: date) -> str:
    """A day as a reader writes it: "12 Sept 2023"."""
    return f"{day.day} {SHORT_MONTHS[day.month - 1]} {day.year}"


def day_text(value: date | None) -> str:
    """A publication date as shown to a reader: ISO, or "date unknown"."""
    return value.isoformat() if value else UNKNOWN_DATE


def describe(found: DateRange) -> str:
    """A date range in words: "2023-09-04 to 2023-09-10", "on 2023-09-05", "since 2023-09-01"."""
    since, until = found.since, found.until
    if since and until:
        return f"on {since.isoformat()}" if since == until else f"{since.isoformat()} to {until.isoformat()}"
    if since:
        return f"since {since.isoformat()}"
    return f"until {until.isoformat()}" if until else "any date"


def parse_date_range(question: str, today: date) -> DateRange:
    """The date range a question asks about, or an empty DateRange.
    Raises InputError when the range reaches outside EARLIEST..LATEST ("in the last 999999999 days")."""
    from rag.errors import InputError

    try:
        read = _read_range(question, today)
    except (OverflowError, ValueError):
        read = DateRange(date.min, date.max, _reach(question))
    for day in (read.since, read.until):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise InputError(f"The question's period “{read.text}” reaches outside the years "
                             f"{EARLIEST.year}-{LATEST.year}: name a narrower one, or ask without it.")
    return read


def _reach(question: str) -> str:
    """The relative period of ``question`` that overflowed, for the message."""
    m = re.search(r"\b(?:in\s+the\s+)?(?:last|past)\s+\d+\s+\w+", question, re.IGNORECASE)
    return m.group(0) if m else question


def _read_range(question: str, today: date) -> DateRange:
    q = question.lower()

    def found(since: date | None, until: date | None, match: re.Match[str]) -> DateRange:
        return DateRange(since, until, question[match.start():match.end()].strip())

    if m := re.search(rf"\bbetween\s+(?:{_DAY_PATTERN})\s+and\s+(?:{_DAY_PATTERN})\b", q):
        first, second = re.split(r"\s+and\s+", m.group(0)[len("between"):].strip(), maxsplit=1)
        a, b = _dayish(first, today), _dayish(second, today)
        if a and b:
            return found(min(a, b), max(a, b), m)
    if m := re.search(rf"\b(?:since|after|from)\s+({_DAY_PATTERN})\b", q):
        if d := _dayish(m[1], today):
            return found(d, None, m)
    if m := re.search(rf"\b(?:before|until|till)\s+({_DAY_PATTERN})\b", q):
        if d := _dayish(m[1], today):
            return found(None, d - timedelta(days=1) if m.group(0).startswith("before") else d, m)
    if m := re.search(rf"\b(?:in|during|since|from)\s+(?:early\s+|late\s+|mid-?\s*)?{_MONTH}(?:\s+(?:of\s+)?{_YEAR})?\b", q):
        month = MONTHS[m[1].rstrip(".")]
        year = int(m[2]) if m[2] else (today.year if month <= today.month else today.year - 1)
        start, end = _month_range(year, month)
        if m.group(0).startswith(("since", "from")):
            return found(start, None, m)
        return found(start, end, m)
    if m := re.search(rf"\b(?:on|of)\s+({_DAY_PATTERN})\b", q):
        if d := _dayish(m[1], today):
            return found(d, d, m)
    if m := re.search(r"\b(?:in|during)\s+" + _YEAR + r"\b", q):
        year = int(m[1])
        return found(date(year, 1, 1), date(year, 12, 31), m)
    if m := re.search(r"\b(?:in\s+the\s+)?(?:last|past)\s+(\d+|one|two|three|four|five|six|seven|ten|few)\s+"
                      r"(day|week|month)s?\b", q):
        n = int(m[1]) if m[1].isdigit() else _NUMBER_WORDS[m[1]]
        days = n * {"day": 1, "week": 7, "month": 30}[m[2]]
        return found(today - timedelta(days=days), today, m)
    if m := re.search(r"\b(?:(last|this|past)\s+(week|month|year)|(yesterday|today|this morning|tonight))\b", q):
        which, unit, single = m[1], m[2], m[3]
        if single:
            d = today - timedelta(days=1) if single == "yesterday" else today
            return found(d, d, m)
        if unit == "week":
            monday = today - timedelta(days=today.weekday())
            return found(monday - timedelta(days=7), monday - timedelta(days=1), m) if which == "last" else \
                found(today - timedelta(days=7) if which == "past" else monday, today, m)
        if unit == "month":
            if which == "last":
                prev = today.replace(day=1) - timedelta(days=1)
                return found(*_month_range(prev.year, prev.month), m)
            return found(today - timedelta(days=30) if which == "past" else today.replace(day=1), today, m)
        if which == "last":
            return found(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), m)
        return found(today - timedelta(days=365) if which == "past" else date(today.year, 1, 1), today, m)
    return DateRange()
