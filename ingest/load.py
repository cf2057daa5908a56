"""Readers per format: a file in, articles (or a reason per failure) out.

Supported: ``.txt``, ``.md``/``.markdown``, ``.html``/``.htm``, ``.json`` (one
article, a list, or a wrapper such as ``{"articles": [...]}``), ``.jsonl``, and
``.pdf``/``.docx`` (read by :mod:`ingest.documents`).
A file that cannot be read yields a :class:`LoadError` with a reason a person can
act on; one bad row of a JSON Lines file (malformed JSON, a NUL byte, invalid UTF-8)
costs that row only. Every article's strings encode as UTF-8 (see :mod:`ingest.decode`).
A record that repeats an earlier record's URL is a duplicate when its content is the
same and an update when it differs: the later record wins, and the report says so.
A file whose only text is one short line is a note: that line is its text and its title.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest import clean
from ingest.decode import read_bytes, read_lines, read_text, repair
from ingest.files import DOCUMENT_TYPES, HTML_TYPES, SUPPORTED, TEXT_TYPES, source_name
from ingest.published import infer_date, parse_date, read_date
from rag.errors import LoadError
from rag.schema import Article, canonical_url

log = logging.getLogger(__name__)

TITLE_FIELDS = ("title", "headline", "name")
TEXT_FIELDS = ("text", "body", "content", "article", "maintext", "full_text")
FALLBACK_TEXT_FIELDS = ("description", "summary", "abstract")
URL_FIELDS = ("url", "link", "canonical_url", "href", "permalink")
DATE_FIELDS = ("published", "published_at", "publish_date", "publishedAt", "date_published",
               "datePublished", "pubDate", "date", "published_date", "created_at", "timestamp")
OUTLET_FIELDS = ("source", "outlet", "site", "publisher", "site_name", "source_name", "sitename", "domain")
MIN_HTML_WORDS = 25  # fewer words than this in a page's main content is a menu or a form, not an article
TITLE_CHARS = 100  # a title derived from the text is cut to this many characters, at a word
LIST_WRAPPERS = ("articles", "items", "data", "results", "entries", "documents", "docs", "news")

_HEADER = re.compile(r"^(title|date|published|source|outlet|url|link)\s*:\s*(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class LoadedFile:
    """Everything read from one file: its articles and a reason for each part that failed."""

    path: Path
    source: str
    articles: tuple[Article, ...]
    errors: tuple[tuple[str, str], ...] = ()  # (where, reason), e.g. ("news.jsonl line 7", "malformed JSON")
    repeats: tuple[tuple[str, str, str], ...] = ()  # (where, title, reason): records an equal or later one replaced


# -- small helpers ---------------------------------------------------------------


def outlet_from_url(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host




def _first(record: Mapping[str, Any], names: Iterable[str]) -> Any:
    lowered = {str(k).lower(): v for k, v in record.items()}
    for name in names:
        value = record.get(name, lowered.get(name.lower()))
        if value not in (None, "", [], {}):
            return value
    return None


def _as_text(value: Any, depth: int = 0) -> str:
    """A field's text: lists joined as paragraphs, objects by their name/text; nesting beyond 20 levels dropped."""
    if value is None or depth > 20:
        return ""
    if isinstance(value, list):
        return "\n\n".join(_as_text(v, depth + 1) for v in value)
    if isinstance(value, Mapping):
        return _as_text(_first(value, ("name", "title", "text", "value", "@value")), depth + 1)
    return str(value)


def derive_title(text: str) -> str:
    """A title for an article that has none: its first sentence, cut at a word to :data:`TITLE_CHARS`."""
    from rag.text import SENTENCE_BOUNDARY

    first = re.split(SENTENCE_BOUNDARY, text[: TITLE_CHARS * 4].partition("\n")[0], maxsplit=1)[0].strip()
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[:TITLE_CHARS].rsplit(" ", 1)[0] if " " in first[:TITLE_CHARS] else first[:TITLE_CHARS]
    return cut.rstrip(" ,;:-") + "…"


def build_article(*, title: str, text: str, source: str, key_hint: str, published: date | None = None,
                 outlet: str = "", url: str = "", note: str = "") -> Article:
    """Clean the body, fill what can be derived (an undated article's date from its URL or dateline, a
    missing title from the first sentence), repair unpaired surrogates, and key the article by URL else
    by source. A title with no body is a short note: the title is the text."""
    (title, text, source, outlet, url), repaired = _repaired(title, text, source, outlet, url)
    body, owner = clean.strip_boilerplate(clean.normalize(text))
    title = " ".join(title.split())
    if not body and title:
        body, title = title, ""  # a one-line note: its line is the text, the title is derived from it
    if not body:
        raise LoadError("no article text")
    first, _, rest = body.partition("\n")
    if title and first.strip().casefold() == title.casefold() and rest.strip():
        body = rest.strip()  # the title repeated as the body's first line
    url = canonical_url(url)
    yearless = None  # (month, day) of a date read without a year: the indexer may give it another year
    if published is None:
        published, yearless = infer_date(body, url)  # from the URL path or a dateline; None when unsure
    title = title or derive_title(body)
    outlet = " ".join(outlet.split()) or outlet_from_url(url) or owner
    key = f"url:{url}" if url else f"file:{key_hint}"
    if repaired:
        note = _join(note, f"{repaired} unpaired UTF-16 surrogate(s) (half an emoji?) replaced by U+FFFD")
    return Article(key=key, title=title, text=body, source=source, published=published, outlet=outlet, url=url,
                   note=note, yearless=yearless)


def _repaired(*fields: str) -> tuple[tuple[str, ...], int]:
    fixed = [repair(f) for f in fields]
    return tuple(f for f, _ in fixed), sum(n for _, n in fixed)


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


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
    outlet = meta.get("source") or meta.get("outlet") or ""
    url = meta.get("url") or meta.get("link") or ""
    published, note = read_date(meta.get("date") or meta.get("published"), url=url, outlet=outlet)
    if lines:
        found, rest = clean.split_date_prefix(lines[0])
        if found:
            published = published or parse_date(found)
            lines[0] = rest
            while lines and not lines[0].strip():
                lines.pop(0)
    if not title and lines and len(lines[0]) <= 300:
        title = lines.pop(0).strip()
    return build_article(
        title=title or Path(source).stem.replace("_", " "),
        text="\n".join(lines),
        source=source,
        key_hint=source,
        published=published,
        outlet=outlet,
        url=url,
        note=note,
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
    outlet, url = _as_text(_first(meta, OUTLET_FIELDS)), _as_text(_first(meta, URL_FIELDS))
    published, note = read_date(_first(meta, DATE_FIELDS), url=url, outlet=outlet)
    return build_article(
        title=clean.markdown_to_text(str(title)),
        text=text,
        source=source,
        key_hint=source,
        published=published,
        outlet=outlet,
        url=url,
        note=note,
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
    return build_article(
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
    outlet = _as_text(_first(record, OUTLET_FIELDS))
    published, note = read_date(_first(record, DATE_FIELDS), url=url, outlet=outlet)
    return build_article(
        title=_as_text(_first(record, TITLE_FIELDS)),
        text=text,
        source=source,
        key_hint=key_hint,
        published=published,
        outlet=outlet,
        url=url,
        note=note,
    )


def _jsonl_records(path: Path, max_bytes: int) -> Iterator[tuple[str, Any]]:
    """(where, record) for each line; (where, LoadError) for each line that is not text or not JSON."""
    for number, line in read_lines(path, max_bytes):
        where = f"{path.name} line {number}"
        if isinstance(line, LoadError):
            yield where, line
            continue
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            yield where, LoadError(f"malformed JSON: {exc.msg} at column {exc.colno}")
        except RecursionError:
            yield where, LoadError("JSON nested too deeply")


def _json_records(raw: str, name: str) -> Iterator[tuple[str, Any]]:
    """(where, record) for each article of a JSON document: one object, a list, or a wrapped list."""
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
    if suffix in DOCUMENT_TYPES:
        from ingest.documents import read_document  # pypdf and python-docx load only when a document is read

        return LoadedFile(path, source, (read_document(read_bytes(path, max_bytes), suffix, source),))
    if suffix == ".jsonl":
        return _records_file(path, source, list(_jsonl_records(path, max_bytes)))
    raw = read_text(path, max_bytes, html=suffix in HTML_TYPES)
    if suffix in HTML_TYPES:
        return LoadedFile(path, source, (parse_html(raw, source),))
    if suffix in TEXT_TYPES:
        parse = parse_markdown if TEXT_TYPES[suffix] == "markdown" else parse_plain
        return LoadedFile(path, source, (parse(raw, source),))
    return _records_file(path, source, list(_json_records(raw, path.name)))


def _records_file(path: Path, source: str, records: list[tuple[str, Any]]) -> LoadedFile:
    """The articles of a JSON or JSON Lines file; a record repeating an earlier URL replaces it (see the module)."""
    articles: dict[str, Article] = {}  # key -> the latest record with that key
    wheres: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    repeats: list[tuple[str, str, str]] = []
    for index, (where, record) in enumerate(records):
        if isinstance(record, LoadError):
            errors.append((where, str(record)))
            continue
        try:
            article = record_to_article(record, source, f"{source}#{index}" if len(records) > 1 else source)
        except LoadError as exc:
            errors.append((where, str(exc)))
            continue
        earlier = articles.get(article.key)
        if earlier is not None:
            first = wheres[article.key].rsplit(" ", 2)[-2:]
            if earlier.content_hash() == article.content_hash():
                repeats.append((where, article.title, f"same URL and content as {' '.join(first)}"))
                continue
            here = where.rsplit(" ", 2)[-2:]
            repeats.append((wheres[article.key], earlier.title,
                            f"an earlier version of {' '.join(here)} (same URL): the later record wins"))
            article = replace(article, note=_join(article.note, f"replaces {' '.join(first)} (same URL, changed content)"))
        articles[article.key] = article
        wheres[article.key] = where
    if not articles:
        reasons = list(dict.fromkeys(reason for _, reason in errors))
        if len(reasons) == 1:
            raise LoadError(reasons[0] if len(errors) == 1 else f"{reasons[0]} (all {len(errors)} records)")
        raise LoadError(f"no valid article in {len(records)} records ({errors[0][0]}: {errors[0][1]})")
    return LoadedFile(path, source, tuple(articles.values()), tuple(errors), tuple(repeats))

