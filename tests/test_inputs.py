"""What a person types into `ask` never ends in a traceback: a clear message and exit code 2 (issue 15, item 11)."""

from __future__ import annotations

import os
from datetime import date

import pytest

from rag.dates import EARLIEST, LATEST, parse_date_range, parse_day
from rag.errors import InputError
from rag.schema import Filters
from rag.service import Done, Error, ask, invalid_input

from .conftest import ARTICLES

TODAY = date(2023, 9, 20)
NOT_TEXT = "rounds " + os.fsdecode(b"\xff\xfe")  # how Python hands invalid UTF-8 in argv to us


@pytest.mark.unit
@pytest.mark.parametrize("question", ["What happened in the last 999999999 days?", "Any news in the past 99999 months?",
                                      "What changed in the last 400000 weeks?"])
def test_a_period_past_the_calendar_is_an_input_error(question):
    with pytest.raises(InputError, match="reaches outside the years"):
        parse_date_range(question, TODAY)


@pytest.mark.unit
def test_ordinary_periods_still_read():
    assert parse_date_range("What happened in the last 3 days?", TODAY).since == date(2023, 9, 17)
    assert parse_date_range("Who won in 1999?", TODAY).since == date(1999, 1, 1)


@pytest.mark.unit
@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "0999-12-31", "3000-01-01"])
def test_a_day_outside_the_calendar_we_serve_is_refused(value):
    with pytest.raises(InputError, match="out of range"):
        parse_day(value, "--today")
    assert parse_day(EARLIEST.isoformat(), "--today") == EARLIEST
    assert parse_day(LATEST.isoformat(), "--today") == LATEST


@pytest.mark.unit
@pytest.mark.parametrize(("question", "filters", "top_k", "today", "expected"), [
    ("", Filters(), None, None, "Ask a question"),
    ("rounds \ud83d", Filters(), None, None, "lone surrogate"),
    (NOT_TEXT, Filters(), None, None, "not text"),
    ("rounds", Filters(outlets=("\udcff",)), None, None, "The outlet holds"),
    ("rounds", Filters(since=date(2023, 5, 1), until=date(2023, 1, 1)), None, None, "reversed"),
    ("rounds", Filters(), 0, None, "top_k must be between 1 and 50, got 0"),
    ("rounds", Filters(), -5, None, "got -5"),
    ("rounds", Filters(), 10**6, None, "got 1000000"),
    ("rounds", Filters(), None, date(1, 1, 1), "out of range"),
    ("rounds", Filters(since=date(9999, 1, 1)), None, None, "since day 9999-01-01 is out of range"),
])
def test_invalid_input_names_what_is_wrong(question, filters, top_k, today, expected):
    assert expected in invalid_input(question, filters, top_k, today)


@pytest.mark.unit
def test_valid_input_passes():
    assert invalid_input("How many rounds?", Filters(since=date(2023, 1, 1)), 5, TODAY) == ""


@pytest.fixture
def config(indexed, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[paths]\narticles_dir = "{ARTICLES}"\nindex_dir = "{indexed.index_dir}"\n')
    return str(path)


@pytest.mark.integration
@pytest.mark.parametrize("args", [
    ["How many festivals happened in the last 999999999 days?"],
    ["Glowfish Festival", "--today", "0001-01-01"],
    ["Glowfish Festival", "--today", "9999-12-31"],
    ["Glowfish Festival", "--top-k", "0"],
    ["Glowfish Festival", "--top-k", "-5"],
    [NOT_TEXT],
    ["Glowfish \ud83d Festival"],
    ["Glowfish Festival", "--outlet", os.fsdecode(b"\xff")],
    ["Glowfish Festival", "--since", "2024-05-01", "--until", "2024-01-01"],
])
def test_cli_ask_bad_input_exits_2_with_one_clear_line(config, capsys, args):
    from rag import cli

    assert cli.main(["--config", config, "ask", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("newsrag: ") and err.count("\n") == 1
    assert "Traceback" not in err and "Unexpected" not in err


@pytest.mark.integration
def test_a_history_with_broken_text_still_gets_an_answer(indexed):
    history = [("user", "Tell me about the festival \ud83d"), ("assistant", "It is in Quillhaven \udcff.")]
    events = list(ask("Which town will host the first Glowfish Festival?", history, None, indexed))
    assert isinstance(events[-1], Done), [e for e in events if isinstance(e, Error)]
    assert "Quillhaven" in events[-1].answer.text
