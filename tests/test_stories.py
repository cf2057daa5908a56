"""Stories (rag/stories.py): features, joining and starting stories, removal, the saved table, and the ingest
hook: story ids in chunk metadata, pruning, a table rebuilt from Chroma, an index built before stories."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from rag.errors import StoreError
from rag.stories import Features, Params, StoryTable, names
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder


def feats(vector: list[float], day: str = "2023-02-06", title: str = "", found: str = "") -> Features:
    v = np.asarray(vector, dtype=np.float32)
    return Features(v / np.linalg.norm(v), date.fromisoformat(day).toordinal() if day else 0,
                    frozenset(title.split()), frozenset(found.split()))


@pytest.mark.unit
def test_names_are_capitalised_words_in_any_script_not_calendar_words_or_stopwords():
    found = names("Pope Francis leads funeral", "On Thursday The Vatican said Benedict XVI, who led the "
                  "Church, died. В Москве сообщили.")
    assert {"pope", "francis", "vatican", "benedict", "xvi", "church", "москве"} <= found
    assert not {"thursday", "the", "on", "funeral", "leads"} & found


@pytest.mark.unit
def test_a_title_in_title_case_gives_no_names():
    assert names("Massive California Storms Pummel State With Heavy Rain", "rain fell in Oakland.") == {"oakland"}


@pytest.mark.unit
def test_an_article_joins_a_similar_story_in_its_window_and_starts_one_otherwise():
    table = StoryTable(Params(threshold=0.65))
    assert table.assign("a", "h", feats([1, 0, 0])) == "a"
    assert table.assign("b", "h", feats([0.95, 0.3, 0], "2023-02-08")) == "a"  # cosine 0.95, two days later
    assert table.assign("c", "h", feats([0, 1, 0])) == "c"  # unrelated: a story of its own
    assert table.assign("d", "h", feats([1, 0, 0], "2023-03-20")) == "d"  # the same words six weeks later
    assert table.assign("e", "h", feats([0.95, 0.3, 0], "")) == "a"  # undated: compared with every article
    assert table.members == {"a": {"a", "b", "e"}, "c": {"c"}, "d": {"d"}}


@pytest.mark.unit
def test_shared_rare_names_lift_a_weaker_match_over_the_threshold():
    table = StoryTable(Params(threshold=0.65, entity_weight=0.5))
    for i in range(5):  # names in every article weigh nothing; "hamlin" is rare
        table.assign(f"x{i}", "h", feats([0, 0, 1, i, 0], found="week usa"))
    table.assign("a", "h", feats([1, 0, 0, 0, 0], found="hamlin bills week usa"))
    assert table.assign("b", "h", feats([0.4, 0.9165, 0, 0, 0], found="week usa")) == "b"  # cosine 0.4, common names
    assert table.assign("c", "h", feats([0.4, 0, 0, 0, 0.9165], found="hamlin bills")) == "a"  # cosine 0.4, rare


@pytest.mark.unit
def test_removing_articles_updates_their_story_and_a_founders_id_is_not_reused():
    table = StoryTable(Params())
    table.assign("a", "h", feats([1, 0]))
    table.assign("b", "h", feats([1, 0.1]))
    table.remove("a")
    assert table.members == {"a": {"b"}} and table.story_of("a") is None and table.story_of("b") == "a"
    assert table.assign("a", "h", feats([0, 1])) == "a~2"  # "a" still names b's story
    table.remove("b")
    assert table.members == {"a~2": {"a"}}
    assert table.assign("c", "h", feats([1, 0])) == "c"  # nothing left in b's story to join


@pytest.mark.unit
def test_the_table_saves_and_loads_and_a_damaged_file_is_an_empty_table(tmp_path: Path):
    table = StoryTable(Params())
    table.assign("a", "h1", feats([1, 0], title="storm rain", found="oakland"))
    table.assign("b", "h2", feats([1, 0.2], ""))
    path = tmp_path / "stories" / "news"
    table.save(path, "v1")
    again = StoryTable.load(path, Params())
    assert again.version == "v1" and again.members == table.members and not again.dirty
    assert (found := again.features("a")) is not None and found.names == {"oakland"} and found.title == {"storm", "rain"}
    assert again.story_of("b") == "a" and again.hash[again.row["b"]] == "h2"
    table.assign("c", "h3", feats([0, 1], title="flood", found="fresno"))
    table.remove("a")  # a removed row is not saved
    table.save(path, "v2")
    again = StoryTable.load(path, Params())
    assert again.members == table.members and again.df == table.df and set(again.row) == {"b", "c"}
    probe = feats([0.9, 0.3], title="storm", found="fresno")
    assert again.scores(probe) == pytest.approx(table.scores(probe))
    assert again.assign("d", "h4", probe) == table.assign("d", "h4", probe)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the stories folder should be")
    with pytest.raises(StoreError, match="Cannot write the story table"):
        table.save(blocked / "news", "v2")
    (path / "meta.json").write_bytes(b"not a table")
    assert len(StoryTable.load(path, Params())) == 0 and StoryTable.load(path, Params()).version == ""


STRIKE = ("Rail workers in Velmora began a strike over pay on {day}. The Velmora Rail Union said trains between "
          "Velmora and Ostrand stopped, and union leader Mara Quell asked the transport ministry for talks on pay "
          "and rail safety. {extra}")
OLIVES = "Farmers in Sarnia expect a smaller olive harvest after a dry summer, the farmers' union said."


def write(folder: Path, name: str, title: str, day: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"Title: {title}\nDate: {day}\n\n{text}\n")


def stories_of(settings, embedder) -> dict[str, str]:
    """Article title -> story id, read from the chunks' metadata."""
    from rag.store import get_store

    store = get_store(settings, embedder.name)
    found = store.story_chunks(list(store.records()))
    return {chunks[0][2]["title"]: chunks[0][2].get("story", "") for chunks in found.values()}


@pytest.mark.unit
def test_ingest_gives_each_article_a_story_and_prune_updates_the_table(tmp_path: Path):
    from ingest.index import ingest_paths
    from rag.stories import load_story_table

    folder, embedder = tmp_path / "articles", FakeEmbedder()
    settings = make_settings(tmp_path, folder)
    write(folder, "s1.txt", "Velmora rail strike begins", "2024-02-20", STRIKE.format(day="Tuesday", extra=""))
    write(folder, "s2.txt", "Velmora rail strike enters day two", "2024-02-21",
          STRIKE.format(day="Tuesday", extra="Commuters crowded buses."))
    write(folder, "o.txt", "Sarnia olive harvest falls", "2024-02-21", OLIVES)
    ingest_paths([folder], settings, embedder=embedder)
    first = stories_of(settings, embedder)
    assert first["Velmora rail strike begins"] == first["Velmora rail strike enters day two"] != first[
        "Sarnia olive harvest falls"]
    assert all(first.values())
    table = load_story_table(settings)
    assert len(table) == 3 and len(table.members) == 2

    write(folder, "s3.txt", "Velmora strike talks", "2024-02-23", STRIKE.format(day="Friday", extra="Talks began."))
    (folder / "s1.txt").unlink()
    ingest_paths([folder], settings, embedder=embedder, prune=True)
    after = stories_of(settings, embedder)
    strike = first["Velmora rail strike begins"]
    assert after == {"Velmora rail strike enters day two": strike, "Velmora strike talks": strike,
                     "Sarnia olive harvest falls": first["Sarnia olive harvest falls"]}  # the story outlives its founder
    table = load_story_table(settings)
    assert sorted(len(m) for m in table.members.values()) == [1, 2] and table.story_of("x") is None

    from rag.store import get_store
    from rag.stories import listing

    found, current = listing(settings, get_store(settings, embedder.name))
    assert current and [(s.id, [(d, t) for _, d, t in s.articles]) for s in found] == [
        (strike, [("2024-02-21", "Velmora rail strike enters day two"), ("2024-02-23", "Velmora strike talks")]),
        (first["Sarnia olive harvest falls"], [("2024-02-21", "Sarnia olive harvest falls")])]


@pytest.mark.unit
def test_a_lost_table_is_rebuilt_from_chroma_and_an_index_without_stories_gets_them(tmp_path: Path):
    from ingest.index import ingest_paths
    from rag.stories import load_story_table, table_path

    folder, embedder = tmp_path / "articles", FakeEmbedder()
    write(folder, "s1.txt", "Velmora rail strike begins", "2024-02-20", STRIKE.format(day="Tuesday", extra=""))
    write(folder, "s2.txt", "Velmora rail strike day two", "2024-02-21", STRIKE.format(day="Wednesday", extra=""))
    write(folder, "o.txt", "Sarnia olive harvest falls", "2024-02-21", OLIVES)
    plain = make_settings(tmp_path, folder, stories={"enabled": False})
    ingest_paths([folder], plain, embedder=embedder)
    assert set(stories_of(plain, embedder).values()) == {""} and not table_path(plain).exists()

    settings = make_settings(tmp_path, folder)
    report = ingest_paths([folder], settings, embedder=embedder)  # nothing to re-embed: stories are backfilled
    assert report.totals["unchanged"] == 3 and report.chunks_embedded == 0
    given = stories_of(settings, embedder)
    assert len(set(given.values())) == 2 and all(given.values())
    saved = load_story_table(settings).members

    (table_path(settings) / "meta.json").write_bytes(b"damaged")
    ingest_paths([folder], settings, embedder=embedder)
    assert load_story_table(settings).members == saved  # rebuilt from the story ids the chunks carry
    assert stories_of(settings, embedder) == given


@pytest.mark.integration
def test_the_real_model_groups_two_reports_of_one_event_apart_from_another(tmp_path: Path, embedder):
    from ingest.index import ingest_paths

    folder = tmp_path / "articles"
    write(folder, "a.txt", "Earthquake of magnitude 7.1 strikes off Kell coast", "2024-05-02",
          "A magnitude 7.1 earthquake struck off the coast of Kell early on Thursday, the Kell Geological Survey said. "
          "Buildings swayed in Port Aven and a tsunami warning was issued for the eastern shore.")
    write(folder, "b.txt", "Rescuers search rubble after Kell quake", "2024-05-03",
          "Rescue teams searched collapsed buildings in Port Aven on Friday, a day after a magnitude 7.1 earthquake "
          "struck off the Kell coast. The tsunami warning for the eastern shore was lifted, but the Kell Geological "
          "Survey said strong aftershocks could follow.")  # a follow-up restates the event, as wire reports do
    write(folder, "c.txt", "Kell central bank raises interest rates", "2024-05-03",
          "The Kell central bank raised its benchmark interest rate by a quarter point to 5 percent on Friday, "
          "citing stubborn inflation in food and housing costs.")
    ingest_paths([folder], make_settings(tmp_path, folder), embedder=embedder)
    found = stories_of(make_settings(tmp_path, folder), embedder)
    quake, rescue, bank = (found[t] for t in ("Earthquake of magnitude 7.1 strikes off Kell coast",
                                              "Rescuers search rubble after Kell quake",
                                              "Kell central bank raises interest rates"))
    assert quake == rescue != bank


@pytest.mark.unit
def test_a_run_killed_before_the_table_is_saved_leaves_a_table_the_next_run_completes(tmp_path: Path, monkeypatch):
    from ingest.index import ingest_paths
    from rag.stories import StoryTable, load_story_table

    folder, embedder = tmp_path / "articles", FakeEmbedder()
    settings = make_settings(tmp_path, folder)
    write(folder, "s1.txt", "Velmora rail strike begins", "2024-02-20", STRIKE.format(day="Tuesday", extra=""))
    ingest_paths([folder], settings, embedder=embedder)
    write(folder, "s2.txt", "Velmora rail strike day two", "2024-02-21", STRIKE.format(day="Wednesday", extra=""))
    write(folder, "o.txt", "Sarnia olive harvest falls", "2024-02-21", OLIVES)
    save = StoryTable.save

    def killed(self, path, version):
        raise KeyboardInterrupt  # as a kill between the last chunk write and the table's rename

    monkeypatch.setattr(StoryTable, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([folder], settings, embedder=embedder)
    assert len(load_story_table(settings)) == 1  # the table of the run before
    monkeypatch.setattr(StoryTable, "save", save)
    report = ingest_paths([folder], settings, embedder=embedder)
    assert report.chunks_embedded == 0 and any("interrupted" in note for note in report.notes)
    table, given = load_story_table(settings), stories_of(settings, embedder)
    assert len(table) == 3 and len(set(given.values())) == 2
    assert {table.story_of(a) for a in table.row} == set(given.values())


@pytest.mark.unit
def test_a_timeline_lists_a_storys_articles_by_date_with_their_lead_sentences(tmp_path: Path):
    from ingest.index import ingest_paths
    from rag.store import get_store
    from rag.stories import load_story_table
    from rag.timeline import find_story, lead, timeline

    folder, embedder = tmp_path / "articles", FakeEmbedder()
    settings = make_settings(tmp_path, folder)
    write(folder, "s2.txt", "Velmora rail strike day two", "2024-02-21",
          "By Staff.\n\n" + STRIKE.format(day="Wednesday", extra=""))
    write(folder, "s1.txt", "Velmora rail strike begins", "2024-02-20", STRIKE.format(day="Tuesday", extra=""))
    write(folder, "o.txt", "Sarnia olive harvest falls", "2024-02-21", OLIVES)
    ingest_paths([folder], settings, embedder=embedder)
    table = load_story_table(settings)
    story = find_story(table, "What happened in the Velmora strike?")
    assert story == table.story_of(next(a for a in table.row if table.words(table.row[a])[0] >= {"begins"}))
    assert find_story(table, story) == story and find_story(table, "zebra crossing") is None
    events = timeline(get_store(settings, embedder.name), table, story)
    assert [(e.published.isoformat(), e.title) for e in events] == [
        ("2024-02-20", "Velmora rail strike begins"), ("2024-02-21", "Velmora rail strike day two")]
    assert all(e.sentence.startswith("Rail workers in Velmora began a strike over pay on") for e in events)
    assert events[0].start == 0 and events[1].start > 0  # "By Staff." is too short to be a lead
    store = get_store(settings, embedder.name)
    only = timeline(store, table, story, since=date(2024, 2, 21))  # exact, like ask's --since/--until
    assert [e.title for e in only] == ["Velmora rail strike day two"]
    assert [e.title for e in timeline(store, table, story, until=date(2024, 2, 20))] == ["Velmora rail strike begins"]
    assert timeline(store, table, story, since=date(2024, 3, 1)) == []
    assert lead("Short. Then a sentence of at least eight words follows here.") == (
        "Then a sentence of at least eight words follows here.", 7, 60)


def test_the_digest_ranks_a_windows_stories_by_outlets_then_newest_with_cited_leads(tmp_path: Path):
    from ingest.index import ingest_paths
    from rag.store import get_store
    from rag.stories import load_story_table
    from rag.timeline import corpus_today, digest

    folder, embedder = tmp_path / "articles", FakeEmbedder()
    settings = make_settings(tmp_path, folder)
    folder.mkdir(parents=True)
    for name, outlet, day, weekday in (("s1", "Velmora Gazette", "2024-02-20", "Tuesday"),
                                       ("s2", "Ostrand Wire", "2024-02-21", "Wednesday"),
                                       ("s3", "Velmora Gazette", "2024-02-22", "Thursday")):
        (folder / f"{name}.txt").write_text(f"Title: Velmora rail strike, {weekday}\nDate: {day}\nOutlet: {outlet}\n\n"
                                            f"{STRIKE.format(day=weekday, extra='')}\n")
    write(folder, "o.txt", "Sarnia olive harvest falls", "2024-02-22", OLIVES)
    ingest_paths([folder], settings, embedder=embedder)
    store, table = get_store(settings, embedder.name), load_story_table(settings)
    assert corpus_today(table, date(2030, 1, 1)) == date(2024, 2, 22)  # the digest's default end, from the table
    assert corpus_today(table, date(2024, 2, 21)) == date(2024, 2, 21)  # never after the clock
    items = digest(store, table, date(2024, 2, 20), date(2024, 2, 22))
    assert [(i.outlets, i.articles, i.newest) for i in items] == [
        (("Ostrand Wire", "Velmora Gazette"), 3, date(2024, 2, 22)), ((), 1, date(2024, 2, 22))]
    strike = items[0]
    assert [e.title for e in strike.leads] == ["Velmora rail strike, Thursday", "Velmora rail strike, Wednesday"]
    assert strike.leads[0].sentence.startswith("Rail workers in Velmora began a strike over pay on Thursday")
    assert digest(store, table, date(2024, 2, 20), date(2024, 2, 20))[0].articles == 1  # the window is exact
    assert digest(store, table, date(2024, 3, 1), date(2024, 3, 7)) == [] and len(digest(
        store, table, date(2024, 2, 20), date(2024, 2, 22), limit=1)) == 1
