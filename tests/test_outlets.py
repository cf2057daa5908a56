"""Outlet names: every spelling of one outlet is one outlet at ingest and in the filter; the config extends it."""

from __future__ import annotations

from datetime import date

import pytest

from rag.config import load_settings
from rag.errors import ConfigError
from rag.filters import FilterRule, resolved
from rag.outlets import BUILTIN, OutletNames, host_of, name_key, outlet_names
from rag.schema import Article, Filters

from .conftest import make_settings
from .fakes import FakeEmbedder

NAMES = OutletNames()


@pytest.mark.unit
@pytest.mark.parametrize(("outlet", "spellings"), [
    ("CNN", ["CNN", "cnn", "cnn.com", "www.cnn.com", "edition.cnn.com", "CNN Wire", "CNN Business", "  CNN  ",
             "https://www.cnn.com/2023/09/05/politics/putin-kim/index.html", "CNN | Breaking News"]),
    ("AP", ["AP", "apnews.com", "Associated Press", "The Associated Press", "ASSOCIATED PRESS", "AP News"]),
    ("Reuters", ["Reuters", "REUTERS", "reuters.com", "www.reuters.com", "Thomson Reuters"]),
    ("USA Today", ["usatoday.com", "www.usatoday.com", "USA TODAY", "USA Today", "usatoday"]),
    ("The Week", ["THE WEEK", "The Week", "theweek.com", "www.theweek.co.uk"]),
    ("BBC News", ["bbc.co.uk", "m.bbc.co.uk", "BBC", "BBC News - Home"]),
    ("The New York Times", ["nytimes.com", "The New York Times", "New York Times", "NYT"]),
])
def test_spellings_of_one_outlet_are_one_outlet(outlet, spellings):
    assert {NAMES.canonical(s) for s in spellings} == {outlet}


@pytest.mark.unit
def test_unknown_outlets_keep_their_name_and_domains_their_host():
    assert NAMES.canonical("Zorbian Coastal Gazette Ltd.") == "Zorbian Coastal Gazette Ltd."
    assert NAMES.canonical("Daily   Planet") == "Daily Planet"
    assert NAMES.canonical("www.marrowby-gazette.example") == "marrowby-gazette.example"
    assert NAMES.canonical("https://amp.example.co.uk/news/1") == "example.co.uk"  # the top-level domain stays
    assert NAMES.canonical("sports.yahoo.com") == "sports.yahoo.com"  # a known parent (news.yahoo.com) only counts
    assert NAMES.canonical("The Republic | azcentral.com") == "The Republic | azcentral.com"
    assert NAMES.canonical("") == ""


@pytest.mark.unit
def test_canonical_is_idempotent_and_the_table_is_consistent():
    for outlet, variants in BUILTIN.items():
        assert NAMES.canonical(outlet) == outlet
        for variant in variants:
            assert NAMES.canonical(NAMES.canonical(variant)) == NAMES.canonical(variant) == outlet, variant
    assert host_of("www.cnn.com") == "cnn.com" and host_of("CNN") == "" and host_of("St. Louis") == ""
    assert name_key("The  Associated Press!") == "associated press" and name_key("The") == "the"


@pytest.mark.unit
def test_the_config_extends_and_overrides_the_built_in_table():
    names = OutletNames({"nexstar media inc.": "The Hill", "edition.cnn.com": "CNN International",
                         "Quillhaven Post": "Quillhaven Post & Courier"})
    assert names.canonical("Nexstar Media Inc.") == "The Hill"
    assert names.canonical("edition.cnn.com") == "CNN International"
    assert names.canonical("CNN International") == "CNN International"  # the configured name wins over "CNN"
    assert names.canonical("www.cnn.com") == "CNN"
    assert names.canonical("QUILLHAVEN POST") == "Quillhaven Post & Courier"
    assert names.canonical("Quillhaven Post and Courier") == "Quillhaven Post & Courier"
    assert outlet_names({"a": "B"}) is outlet_names({"a": "B"})  # built once per mapping


@pytest.mark.unit
def test_the_config_key_reads_toml_tables_and_environment_json(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[ingest.outlets]\n"nexstar media inc." = "The Hill"\n"cnn wire" = "CNN"\n', encoding="utf-8")
    assert load_settings(path, env={}).ingest.outlets == {"nexstar media inc.": "The Hill", "cnn wire": "CNN"}
    inline = tmp_path / "inline.toml"
    inline.write_text('[ingest]\noutlets = { "x.example" = "X News" }\n', encoding="utf-8")
    assert load_settings(inline, env={}).ingest.outlets == {"x.example": "X News"}
    env = {"NEWSRAG_INGEST__OUTLETS": '{"y.example": "Y News"}'}
    assert load_settings(env=env).ingest.outlets == {"y.example": "Y News"}
    hash(load_settings(env=env).ingest)  # sections stay hashable (caches are keyed by them)
    for bad, shown in [('outlets = "CNN"', '"CNN"'), ('outlets = { "cnn" = 1 }', "outlets"),
                       ('outlets = { "cnn" = "" }', "outlets"), ("outlets = [1]", "[1]")]:
        path.write_text(f"[ingest]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_settings(path, env={})
        message = str(caught.value)
        assert message.startswith("Invalid setting [ingest] outlets") and shown in message and "table" in message
    with pytest.raises(ConfigError, match=r"NEWSRAG_INGEST__OUTLETS.*table"):
        load_settings(env={"NEWSRAG_INGEST__OUTLETS": "cnn=CNN"})


@pytest.mark.unit
def test_the_filter_resolves_what_a_user_types():
    names = OutletNames({"nexstar media inc.": "The Hill"})
    typed = Filters(outlets=("cnn.com", "cnn", "CNN Wire", "Nexstar Media Inc.", "Daily Planet"))
    assert resolved(typed, names).outlets == ("CNN", "The Hill", "Daily Planet")
    rule = FilterRule.of(resolved(typed, names))
    assert rule is not None and rule.outlets == ("cnn", "the hill", "daily planet")
    dated = Filters(since=date(2024, 1, 1))
    assert resolved(dated, names) is dated


# -- at ingest and in search, with a real Chroma in tmp_path and the fake embedder -----------------------------


def story(key: str, outlet: str, text: str, url: str = "") -> Article:
    return Article(key=f"file:{key}", title=key.replace("-", " "), text=text, source=f"{key}.txt",
                   published=date(2024, 3, 1), outlet=outlet, url=url)


STORIES = [
    story("ferries", "cnn.com", "Quillhaven will buy three electric ferries for its harbour crossing."),
    story("tugs", "CNN Wire", "The Tamsford yard delivered two hybrid tugs to the harbour last year."),
    story("fares", "www.cnn.com", "Harbour ferry fares stay frozen for a second year in Quillhaven."),
    story("keepers", "The Associated Press", "Keepers return to the Glowfish Point lighthouse near the harbour."),
    story("lamp", "Nexstar Media Inc.", "The harbour lighthouse lamp was automated in 1984 and repaired in 2024."),
]


@pytest.mark.integration
def test_ingest_stores_one_outlet_and_the_filter_finds_it_in_any_spelling(tmp_path):
    from ingest.index import ingest_articles
    from rag.service import Engine, Sources, ask

    settings = make_settings(tmp_path)
    embedder = FakeEmbedder()
    report = ingest_articles(STORIES, settings, embedder=embedder)
    assert report.totals["added"] == len(STORIES)
    engine = Engine(settings, embedder=embedder)
    assert dict(engine.store.stats().outlets) == {"CNN": 3, "AP": 1, "Nexstar Media Inc.": 1}

    for typed in ("cnn.com", "cnn", "CNN Wire", "https://edition.cnn.com/world"):
        events = list(ask("harbour ferries tugs", None, Filters(outlets=(typed,)), settings, engine=engine))
        sources = next(e for e in events if isinstance(e, Sources))
        assert sources.filters.outlets == ("CNN",)
        assert sources.hits and {h.passage.outlet for h in sources.hits} == {"CNN"}, typed
    hits = engine.retriever.search("harbour lighthouse", resolved(Filters(outlets=("apnews.com",)), outlet_names())).hits
    assert [h.passage.title for h in hits] == ["keepers"]


@pytest.mark.integration
def test_a_changed_outlet_table_renames_exactly_its_articles_at_the_next_ingest(tmp_path):
    from ingest.index import ingest_articles
    from rag.store import get_store

    settings = make_settings(tmp_path)
    embedder = FakeEmbedder()
    ingest_articles(STORIES, settings, embedder=embedder)
    renamed = settings.replace(ingest={"outlets": {"nexstar media inc.": "The Hill"}})
    report = ingest_articles(STORIES, renamed, embedder=embedder)
    outcomes = {r.title: r.outcome for r in report.items}
    assert outcomes == {"ferries": "unchanged", "tugs": "unchanged", "fares": "unchanged", "keepers": "unchanged",
                        "lamp": "updated"}
    stats = get_store(renamed, embedder.name).stats()
    assert dict(stats.outlets) == {"CNN": 3, "AP": 1, "The Hill": 1}
