"""Outlet names: every spelling of one outlet becomes one display name.

"CNN", "cnn.com", "www.cnn.com", "edition.cnn.com", "https://www.cnn.com/..." and "CNN Wire" are all
"CNN". :class:`OutletNames` holds the built-in table (:data:`BUILTIN`: common outlets, their web
domains and name variants) extended by ``[ingest] outlets`` (a name or domain = the outlet it is
shown as); the config wins over the built-in table, and each of its outlets names itself, so
``canonical`` is idempotent: ``canonical(canonical(x)) == canonical(x)``.

How a name is looked up:

* a URL or a bare host name ("www.cnn.com", "Reuters.com") is a domain: lower-cased, a leading ``www.``,
  ``www2.``, ``m.``, ``mobile.`` or ``amp.`` dropped, then looked up with each parent domain in turn
  ("edition.cnn.com", then "cnn.com"). An unknown domain is shown as that host ("example.co.uk"): the
  top-level domain is kept, since "example.com" and "example.org" need not be one outlet;
* any other name is compared case- and punctuation-insensitively, "&" as "and", without a leading
  "The" ("THE WEEK" is "The Week", "The Associated Press" is "AP"). A name made of parts ("The Republic |
  azcentral.com", "BBC News - Home") that is unknown as a whole takes the first part that is known. An
  unknown name is kept as written, its spaces tidied.

Ingest stores the canonical name (:mod:`ingest.index`), and the outlet filter resolves what a user types
through the same table (:func:`rag.filters.resolved`), so ``--outlet cnn.com`` finds "CNN".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import urlsplit

# canonical display name -> its domains (with a dot) and other names, as articles and feeds write them
BUILTIN: dict[str, tuple[str, ...]] = {
    "CNN": ("cnn.com", "cnn", "cnn wire", "cnn business", "cnn politics", "cnn international", "cnn newsource",
            "cable news network", "money.cnn.com"),
    "Reuters": ("reuters.com", "reuters", "thomson reuters", "reuters news"),
    "AP": ("apnews.com", "ap.org", "ap", "associated press", "ap news", "the associated press"),
    "AFP": ("afp.com", "afp", "agence france-presse", "agence france presse"),
    "BBC News": ("bbc.com", "bbc.co.uk", "bbc", "bbc news", "bbc world service"),
    "The New York Times": ("nytimes.com", "new york times", "nyt", "the new york times"),
    "The Washington Post": ("washingtonpost.com", "washington post"),
    "The Wall Street Journal": ("wsj.com", "wall street journal", "wsj"),
    "The Guardian": ("theguardian.com", "guardian.co.uk", "guardian", "the guardian"),
    "USA Today": ("usatoday.com", "usa today", "usatoday"),
    "The Week": ("theweek.com", "theweek.co.uk"),
    "NPR": ("npr.org", "npr", "national public radio"),
    "Fox News": ("foxnews.com", "fox news", "fox news channel"),
    "NBC News": ("nbcnews.com", "nbc news"),
    "CBS News": ("cbsnews.com", "cbs news"),
    "ABC News": ("abcnews.go.com", "abcnews.com", "abc news"),
    "ABC News (Australia)": ("abc.net.au", "abc news australia"),
    "CNBC": ("cnbc.com", "cnbc"),
    "MSNBC": ("msnbc.com", "msnbc"),
    "Bloomberg": ("bloomberg.com", "bloomberg", "bloomberg news"),
    "Politico": ("politico.com", "politico.eu", "politico"),
    "The Hill": ("thehill.com",),
    "Axios": ("axios.com", "axios"),
    "Al Jazeera": ("aljazeera.com", "al jazeera", "al jazeera english"),
    "Financial Times": ("ft.com", "financial times", "ft"),
    "The Economist": ("economist.com", "economist"),
    "Los Angeles Times": ("latimes.com", "los angeles times", "la times"),
    "New York Post": ("nypost.com", "new york post", "ny post"),
    "Newsweek": ("newsweek.com", "newsweek"),
    "HuffPost": ("huffpost.com", "huffingtonpost.com", "huffpost", "huffington post"),
    "Business Insider": ("businessinsider.com", "insider.com", "business insider", "insider"),
    "Forbes": ("forbes.com", "forbes"),
    "Time": ("time.com", "time", "time magazine"),
    "The Atlantic": ("theatlantic.com", "atlantic"),
    "Vox": ("vox.com", "vox"),
    "PBS": ("pbs.org", "pbs newshour"),
    "Yahoo News": ("news.yahoo.com", "yahoo news"),
    "Sky News": ("news.sky.com",),
    "The Independent": ("independent.co.uk", "independent", "the independent"),
    "The Telegraph": ("telegraph.co.uk", "telegraph", "the telegraph", "daily telegraph"),
    "Daily Mail": ("dailymail.co.uk", "daily mail", "mail online", "dailymail"),
    "The Times": ("thetimes.co.uk", "the times", "times of london"),
    "Deutsche Welle": ("dw.com", "dw", "deutsche welle"),
    "France 24": ("france24.com", "france 24", "france24"),
    "Euronews": ("euronews.com", "euronews"),
    "The Irish Times": ("irishtimes.com", "irish times"),
    "RTÉ": ("rte.ie", "rte", "rté", "rte news", "rté news"),
    "The Hindu": ("thehindu.com", "the hindu", "hindu"),
    "The Times of India": ("timesofindia.indiatimes.com", "indiatimes.com", "times of india"),
    "South China Morning Post": ("scmp.com", "south china morning post", "scmp"),
    "The Straits Times": ("straitstimes.com", "straits times"),
    "The Sydney Morning Herald": ("smh.com.au", "sydney morning herald"),
    "Chicago Tribune": ("chicagotribune.com", "chicago tribune"),
    "The Boston Globe": ("bostonglobe.com", "boston globe"),
    "The Verge": ("theverge.com", "verge"),
    "Wired": ("wired.com", "wired"),
    "TechCrunch": ("techcrunch.com", "techcrunch"),
    "Ars Technica": ("arstechnica.com", "ars technica"),
}

_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$")
_PREFIXES = ("www.", "www2.", "www3.", "m.", "mobile.", "amp.")
_PARTS = re.compile(r"\s+[|–—-]\s+|\s*\|\s*")  # "The Republic | azcentral.com", "BBC News - Home"
_PUNCT = re.compile(r"[^\w\s]")


def host_of(name: str) -> str:
    """The host a URL or a bare domain names, without ``www.``/``m.``/``amp.`` ...; "" when it is not one."""
    text = name.strip().lower()
    if "://" in text:
        text = (urlsplit(text).hostname or "").rstrip(".")
    elif "/" in text:
        text = text.split("/", 1)[0]
    if not _HOST.match(text):
        return ""
    for prefix in _PREFIXES:
        if text.startswith(prefix) and text.count(".") > 1:
            return text[len(prefix):]
    return text


def name_key(name: str) -> str:
    """How names compare: case-, punctuation- and spacing-insensitively, "&" as "and", no leading "the"."""
    text = _PUNCT.sub(" ", name.casefold().replace("&", " and ").replace("’", "").replace("'", ""))
    words = text.split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)


class OutletNames:
    """The outlet table: built-in names and domains plus the configured ones (the config wins)."""

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        self.domains: dict[str, str] = {}
        self.names: dict[str, str] = {}
        for outlet, variants in BUILTIN.items():
            self._add(outlet, (outlet, *variants))
        for variant, outlet in (extra or {}).items():
            self._add(outlet, (variant,))
        for outlet in (extra or {}).values():
            self._add(outlet, (outlet,))  # a configured outlet names itself, even if the built-in table disagrees

    def _add(self, outlet: str, variants: Iterable[str]) -> None:
        outlet = " ".join(outlet.split())
        for variant in variants:
            host = host_of(variant)
            if host:
                self.domains[host] = outlet
            elif key := name_key(variant):
                self.names[key] = outlet

    def _domain(self, host: str) -> str | None:
        labels = host.split(".")
        for start in range(len(labels) - 1):
            found = self.domains.get(".".join(labels[start:]))
            if found:
                return found
        return None

    def _known(self, name: str) -> str | None:
        host = host_of(name)
        if host:
            return self._domain(host)
        return self.names.get(name_key(name))

    def canonical(self, name: str) -> str:
        """The display name of the outlet ``name`` spells: a known outlet's name, an unknown domain's host, or
        ``name`` itself with its spaces tidied ("" stays "")."""
        name = " ".join(name.split())
        if not name:
            return ""
        found = self._known(name)
        if found:
            return found
        parts = [p for p in _PARTS.split(name) if p.strip()]
        if len(parts) > 1:
            found = next((hit for hit in map(self._known, parts) if hit), None)
            if found:
                return found
        return host_of(name) or name


@lru_cache(maxsize=8)
def _cached(items: frozenset[tuple[str, str]]) -> OutletNames:
    return OutletNames(dict(sorted(items)))


def outlet_names(extra: Mapping[str, str] | None = None) -> OutletNames:
    """The table for ``[ingest] outlets`` (built once per distinct mapping)."""
    return _cached(frozenset((extra or {}).items()))
