"""``newsrag mcp`` end to end: the SDK's own client starts the server over stdio on a real index of
tests/data and calls both tools. One session per module (the server loads the model once); its stdout
is teed to a file so the test can check that nothing but protocol messages went there."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from rag.config import MAX_TOP_K

from .conftest import ARTICLES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 240  # seconds for a whole session: a hang fails the test instead of blocking the run
PLANTED = "Which town will host the first Glowfish Festival?"
OFF_TOPIC = "What is the best recipe for sourdough bread?"

CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "search": ("search_news", {"query": "glowfish festival", "k": 3}),
    "outlet": ("search_news", {"query": "olive harvest drought", "outlet": "wire example"}),
    "since": ("search_news", {"query": "olive harvest drought", "since": "2024-01-01"}),
    "until": ("search_news", {"query": "comet observatory telescope", "until": "2024-03-31"}),
    "bad_date": ("search_news", {"query": "glowfish", "since": "yesterday"}),
    "bad_k": ("search_news", {"query": "glowfish", "k": 0}),
    "empty_query": ("search_news", {"query": "   "}),
    "answer": ("ask_news", {"question": PLANTED}),
    "refusal": ("ask_news", {"question": OFF_TOPIC}),
    "ask_bad_date": ("ask_news", {"question": PLANTED, "until": "2024-13-01"}),
}


def write_config(folder: Path, index_dir: Path) -> Path:
    path = folder / "config.toml"
    path.write_text(f'[paths]\narticles_dir = "{ARTICLES}"\nindex_dir = "{index_dir}"\n')
    return path


def run_session(config: Path, folder: Path, calls: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Start ``newsrag --config CONFIG mcp`` through the SDK's stdio client, list the tools, make ``calls``.

    The server's stdout passes through ``tee`` into ``folder/stdout.jsonl``; its stderr goes to
    ``folder/stderr.log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSRAG_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    wire, errors = folder / "stdout.jsonl", folder / "stderr.log"
    params = StdioServerParameters(
        command="/bin/sh",
        args=["-c", 'exec "$0" -m rag.cli --config "$1" mcp | tee "$2"', sys.executable, str(config), str(wire)],
        env=env, cwd=str(ROOT))

    async def scenario() -> dict[str, Any]:
        with anyio.fail_after(TIMEOUT), errors.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session:
                await session.initialize()
                found: dict[str, Any] = {"tools": {t.name: t for t in (await session.list_tools()).tools}}
                for label, (tool, arguments) in calls.items():
                    found[label] = await session.call_tool(tool, arguments)
                return found

    found = anyio.run(scenario)
    found["stdout"] = wire.read_text(encoding="utf-8")
    found["stderr"] = errors.read_text(encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def session(indexed, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mcp")
    return run_session(write_config(folder, indexed.index_dir), folder, CALLS)


def text_of(result) -> str:
    return " ".join(block.text for block in result.content if block.type == "text")


def test_both_tools_are_listed_with_their_input_schemas(session):
    tools = session["tools"]
    assert set(tools) == {"search_news", "ask_news"}
    search = tools["search_news"].input_schema
    assert search["required"] == ["query"]
    assert set(search["properties"]) == {"query", "since", "until", "outlet", "k"}
    assert search["properties"]["k"]["type"] == "integer" and search["properties"]["k"]["default"] == 5
    ask = tools["ask_news"].input_schema
    assert ask["required"] == ["question"]
    assert set(ask["properties"]) == {"question", "since", "until", "outlet", "provider"}
    assert "passages" in tools["search_news"].output_schema["properties"]
    assert "citations" in tools["ask_news"].output_schema["properties"]


def test_search_returns_passages_with_their_metadata(session):
    result = session["search"]
    assert not result.is_error
    passages = result.structured_content["passages"]
    assert 1 <= len(passages) <= 3
    top = passages[0]
    assert top["title"].startswith("Quillhaven to host the first Glowfish Festival")
    assert top["outlet"] == "Zorbian Coastal Gazette Ltd."
    assert top["published"] == "2024-03-12" and top["date"] == "2024-03-12"
    assert "Glowfish Festival" in top["text"] and top["source"] == "glowfish_festival.txt"
    assert top["article_id"] and top["chunk_id"] and isinstance(top["score"], float)
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)
    assert json.loads(text_of(result)) == result.structured_content  # clients without structured output get JSON


def test_outlet_and_date_filters_apply(session):
    outlet = session["outlet"].structured_content["passages"]
    assert outlet and {p["outlet"] for p in outlet} == {"Wire Example"}
    since = session["since"].structured_content["passages"]
    assert since and all(p["published"] and p["published"] >= "2024-01-01" for p in since)
    assert not any("olive" in p["title"].lower() for p in since)  # the olive harvest story is from 2023-10-11
    until = session["until"].structured_content["passages"]
    assert until and all(p["published"] and p["published"] <= "2024-03-31" for p in until)
    assert not any("observatory" in p["title"].lower() for p in until)  # published 2024-04-05


def test_ask_returns_a_cited_answer(session):
    result = session["answer"]
    assert not result.is_error
    data = result.structured_content
    assert not data["refused"] and data["refusal_reason"] == "" and data["provider"] == "extractive"
    assert "Quillhaven" in data["text"] and "[1]" in data["text"]
    first = data["citations"][0]
    assert first["number"] == 1 and first["title"].startswith("Quillhaven to host the first Glowfish")
    assert first["outlet"] == "Zorbian Coastal Gazette Ltd." and first["published"] == "2024-03-12"
    assert "Quillhaven" in first["quote"]


def test_off_topic_question_is_refused_with_its_reason(session):
    data = session["refusal"].structured_content
    assert data["refused"] and data["citations"] == []
    assert data["refusal_kind"] and "sourdough" in data["refusal_reason"]


@pytest.mark.parametrize(("label", "message"), [
    ("bad_date", "since expects a date as YYYY-MM-DD, got 'yesterday'"),
    ("bad_k", f"k must be between 1 and {MAX_TOP_K}, got 0"),
    ("empty_query", "query is empty"),
    ("ask_bad_date", "until expects a date as YYYY-MM-DD, got '2024-13-01'"),
])
def test_bad_arguments_are_tool_errors_with_one_clear_message(session, label, message):
    result = session[label]
    assert result.is_error and result.structured_content is None
    assert message in text_of(result)
    assert "Traceback" not in text_of(result) and "Traceback" not in session["stderr"]


def test_nothing_but_protocol_messages_on_stdout(session):
    lines = session["stdout"].splitlines()
    assert len(lines) >= len(CALLS) + 2  # initialize, tools/list and every call answered
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0", line


def test_an_empty_index_is_a_tool_error(tmp_path):
    found = run_session(write_config(tmp_path, tmp_path / "index"), tmp_path, {
        "search": ("search_news", {"query": "glowfish"}), "ask": ("ask_news", {"question": PLANTED})})
    for label in ("search", "ask"):
        assert found[label].is_error and "No articles indexed yet" in text_of(found[label])
    assert "Traceback" not in found["stderr"]
