"""Readers per format: a file in, articles (or a reason per failure) out.

Supported: ``.txt``, ``.md``/``.markdown``, ``.html``/``.htm``, ``.json`` (one
article, a list, or a wrapper such as ``{"articles": [...]}``) and ``.jsonl``.
A file that cannot be read yields a :class:`LoadError` with a reason a person can
act on; one bad row of a JSON Lines file costs that row only.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest import clean
from ingest.files import source_name
from ingest.published import infer_published
from rag.errors import LoadError
from rag.schema import Article, canonical_url

log = logging.getLogger(__name__)

TEXT_TYPES = {".txt": "text", ".md": "markdown", ".markdown": "markdown"}
HTML_TYPES = {".html", ".htm"}
JSON_TYPES = {".json", ".jsonl"}
SUPPORTED = frozenset(TEXT_TYPES) | HTML_TYPES | JSON_TYPES

TITLE_FIELDS = ("title", "headline", "name")
TEXT_FIELDS = ("text", "body", "content", "article", "maintext", "full_text")
FALLBACK_TEXT_FIELDS = ("description", "summary", "abstract")
URL_FIELDS = ("url", "link", "canonical_url", "href", "permalink")
DATE_FIELDS = ("published", "published_at", "publish_date", "publishedAt", "date_published",
               "datePublished", "pubDate", "date", "published_date", "created_at", "timestamp")
OUTLET_FIELDS = ("source", "outlet", "site", "publisher", "site_name", "source_name", "sitename", "domain")
MIN_HTML_WORDS = 25  # fewer words than this in a page's main content is a menu or a form, not an article
LIST_WRAPPERS = ("articles", "items", "data", "results", "entries", "documents", "docs", "news")

_HEADER = re.compile(r"^(title|date|published|source|outlet|url|link)\s*:\s*(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class LoadedFile:
    """Everything read from one file: its articles and a reason for each part that failed."""

    path: Path
    source: str
    articles: tuple[Article, ...]
    errors: tuple[tuple[str, str], ...] = ()  # (where, reason), e.g. ("news.jsonl line 7", "malformed JSON")


# -- small helpers ---------------------------------------------------------------


def outlet_from_url(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


def parse_date(value: Any) -> date | None:
    """A publication date from an ISO string, a common written form or a Unix timestamp; None if unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc).date()
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text)
    try:
        if match:
            day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        else:
            from dateutil import parser as date_parser

            day = date_parser.parse(text, default=datetime(2000, 1, 1)).date()
    except (ValueError, OverflowError):
        return None
    return day if 1800 <= day.year <= 2200 else None


def _first(record: Mapping[str, Any], names: Iterable[str]) -> Any:
    lowered = {str(k).lower(): v for k, v in record.items()}
    for name in names:
        value = record.get(name, lowered.get(name.lower()))
        if value not in (None, "", [], {}):
            return value
    return None


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n\n".join(_as_text(v) for v in value)
    if isinstance(value, Mapping):
        return _as_text(_first(value, ("name", "title", "text", "value", "@value")))
    return str(value)


def make_article(*, title: str, text: str, source: str, key_hint: str, published: date | None = None,
                 outlet: str = "", url: str = "") -> Article:
    """Clean the body, fill what can be derived (an undated article's date from its URL or dateline),
    and key the article by URL else by source."""
    body, owner = clean.strip_boilerplate(clean.normalize(text))
    if not body:
        raise LoadError("no article text")
    title = " ".join(title.split())
    first, _, rest = body.partition("\n")
    if title and first.strip().casefold() == title.casefold() and rest.strip():
        body = rest.strip()  # the title repeated as the body's first line
    url = canonical_url(url)
    if published is None:
        published = infer_published(body, url)  # from the URL path or a dateline; None when unsure
    if not title:
        title = first[:120]
    outlet = " ".join(outlet.split()) or outlet_from_url(url) or owner
    key = f"url:{url}" if url else f"file:{key_hint}"
    return Article(key=key, title=title, text=body, source=source, published=published, outlet=outlet, url=url)


# -- reading bytes -------------------------------------------------------------------


def read_text(path: Path, max_bytes: int) -> str:
    """The file's text, or a LoadError saying why it is not an article file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise LoadError("empty file")
    if size > max_bytes:
        raise LoadError(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit ([ingest] max_file_mb)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc
    head = data[:8192]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) * 0.1:
        raise LoadError("binary file, not text")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if path.suffix.lower() in HTML_TYPES:
            declared = re.search(rb"""<meta[^>]+charset=["']?([\w-]+)""", head, re.IGNORECASE)
            if declared:
                try:
                    return data.decode(declared.group(1).decode("ascii"))
                except (LookupError, UnicodeDecodeError):
                    pass
        raise LoadError(
            f"not valid UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from exc
    if not text.strip():
        raise LoadError("empty file (only white space)")
    return text


# -- formats ---------------------------------------------------------------------------


def parse_plain(raw: str, source: str) -> Article:
    """Plain text: the first line is the title, optionally after ``date YYYY-MM-DD``;
    ``Title:``/``Date:``/``Source:``/``URL:`` header lines at the top are also understood."""
    lines = clean.normalize(raw).split("\n")
    meta: dict[str, str] = {}
    while lines and (match := _HEADER.match(lines[0])):
        meta[match.group(1).lower()] = match.group(2).strip()
        lines.pop(0)
    while lines and not lines[0].strip():
        lines.pop(0)
    title = meta.get("title", "")
    published = parse_date(meta.get("date") or meta.get("published"))
    if lines:
        found, rest = clean.split_date_prefix(lines[0])
        if found:
            published = published or parse_date(found)
            lines[0] = rest
            while lines and not lines[0].strip():
                lines.pop(0)
    if not title and lines and len(lines[0]) <= 300:
        title = lines.pop(0).strip()
    return make_article(
        title=title or Path(source).stem.replace("_", " "),
        text="\n".join(lines),
        source=source,
        key_hint=source,
        published=published,
        outlet=meta.get("source") or meta.get("outlet") or "",
        url=meta.get("url") or meta.get("link") or "",
    )


def _front_matter(raw: str) -> tuple[dict[str, str], str]:
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", raw, re.DOTALL)
    if not match:
        return {}, raw
    meta: dict[str, str] = {}
    for line in match.group(1).split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t", "-")):
            meta[key.strip().lower()] = value.strip().strip("'\"")
    return meta, raw[match.end():]


def parse_markdown(raw: str, source: str) -> Article:
    """Markdown: YAML-style front matter (title, date, source, url) and the first ``#`` heading as title."""
    meta, body = _front_matter(clean.normalize(raw))
    title = _first(meta, TITLE_FIELDS) or ""
    if not title:
        heading = re.search(r"^\s{0,3}#\s+(.+)$", body, re.MULTILINE)
        if heading and not body[: heading.start()].strip():
            title = heading.group(1).strip()
            body = body[heading.end():]
    text = clean.markdown_to_text(body)
    if not title:
        first, _, rest = text.partition("\n")
        if len(first) <= 300:
            title, text = first, rest
    return make_article(
        title=clean.markdown_to_text(str(title)),
        text=text,
        source=source,
        key_hint=source,
        published=parse_date(_first(meta, DATE_FIELDS)),
        outlet=_as_text(_first(meta, OUTLET_FIELDS)),
        url=_as_text(_first(meta, URL_FIELDS)),
    )


def parse_html(raw: str, source: str, url: str = "") -> Article:
    """HTML: trafilatura finds the article body and metadata (htmldate for the publication date)."""
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            raw,
            url=url or None,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            favor_precision=True,
            date_extraction_params={"original_date": True, "extensive_search": False},
        )
    except Exception as exc:  # noqa: BLE001 - the extractor's internal errors become a per-file reason
        raise LoadError(f"HTML could not be parsed: {type(exc).__name__}: {exc}") from exc
    def field(name: str) -> str:
        value = doc.get(name) if isinstance(doc, dict) else getattr(doc, name, None)
        return str(value or "")

    text = field("text")
    if len(text.split()) < MIN_HTML_WORDS:
        raise LoadError("no article text found in the HTML page (only navigation, forms or scripts)")
    return make_article(
        title=field("title"),
        text=text,
        source=source,
        key_hint=source,
        published=parse_date(field("date")),
        outlet=field("sitename"),
        url=field("url") or url,
    )


def record_to_article(record: Any, source: str, key_hint: str) -> Article:
    """One JSON object with the usual field names -> Article."""
    if not isinstance(record, Mapping):
        raise LoadError(f"expected a JSON object, got {type(record).__name__}")
    text = _as_text(_first(record, TEXT_FIELDS) or _first(record, FALLBACK_TEXT_FIELDS))
    if not text.strip():
        raise LoadError("no article text (expected a field named " + "/".join(TEXT_FIELDS[:3]) + ")")
    if re.search(r"<(p|div|br|span|a)\b[^>]*>", text, re.IGNORECASE):
        text = clean.strip_html(text)
    url = _as_text(_first(record, URL_FIELDS))
    if url and not re.match(r"^https?://", url, re.IGNORECASE):
        url = ""
    return make_article(
        title=_as_text(_first(record, TITLE_FIELDS)),
        text=text,
        source=source,
        key_hint=key_hint,
        published=parse_date(_first(record, DATE_FIELDS)),
        outlet=_as_text(_first(record, OUTLET_FIELDS)),
        url=url,
    )


def _json_records(raw: str, jsonl: bool, name: str) -> Iterator[tuple[str, Any]]:
    """(where, record) for each record; (where, LoadError) for each row that fails to parse."""
    if jsonl:
        for number, line in enumerate(raw.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                yield f"{name} line {number}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"{name} line {number}", LoadError(f"malformed JSON: {exc.msg} at column {exc.colno}")
            except RecursionError:
                yield f"{name} line {number}", LoadError("JSON nested too deeply")
        return
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LoadError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise LoadError("JSON nested too deeply") from exc
    if isinstance(data, Mapping) and _first(data, TEXT_FIELDS + FALLBACK_TEXT_FIELDS) is None:
        wrapped = next((data[k] for k in LIST_WRAPPERS if isinstance(data.get(k), list)), None)
        if wrapped is not None:
            data = wrapped
    if isinstance(data, list):
        if not data:
            raise LoadError("JSON list holds no articles")
        for number, item in enumerate(data, start=1):
            yield f"{name} item {number}", item
    else:
        yield name, data


# -- entry points ---------------------------------------------------------------------


def load_file(path: Path, *, root: Path | None = None, max_bytes: int = 20_000_000) -> LoadedFile:
    """Read one file. Whole-file problems raise LoadError; per-record problems land in ``errors``."""
    source = source_name(path, root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"unsupported file type {suffix or '(none)'}: expected one of {', '.join(sorted(SUPPORTED))}")
    raw = read_text(path, max_bytes)
    if suffix in HTML_TYPES:
        return LoadedFile(path, source, (parse_html(raw, source),))
    if suffix in TEXT_TYPES:
        parse = parse_markdown if TEXT_TYPES[suffix] == "markdown" else parse_plain
        return LoadedFile(path, source, (parse(raw, source),))
    articles: list[Article] = []
    errors: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    records = list(_json_records(raw, suffix == ".jsonl", path.name))
    for index, (where, record) in enumerate(records):
        if isinstance(record, LoadError):
            errors.append((where, str(record)))
            continue
        try:
            article = record_to_article(record, source, f"{source}#{index}" if len(records) > 1 else source)
        except LoadError as exc:
            errors.append((where, str(exc)))
            continue
        if article.key in seen:
            errors.append((where, f"same URL as {seen[article.key]}; kept the first"))
            continue
        seen[article.key] = where
        articles.append(article)
    if not articles:
        reason = errors[0][1] if len(errors) == 1 else f"no valid article in {len(records)} records"
        raise LoadError(reason)
    return LoadedFile(path, source, tuple(articles), tuple(errors))
