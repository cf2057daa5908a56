"""The OpenAI-compatible API end to end: `newsrag serve` in a child process on a free 127.0.0.1 port, over a real
index of tests/data, called with the official ``openai`` client (and plain HTTP where the client cannot go wrong
on purpose). The server has a login (``[ui] auth_user``), so every request needs the bearer key. A second server,
in this process and without a login, serves an empty index with the API open. The request parsing and the answer
shapes are unit-tested below."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from datetime import date
from typing import Any

import openai
import pytest
from openai import OpenAI

from rag.api import MAX_BODY_BYTES, ApiError, answer_question, api_key, build_api, completion, parse_request
from rag.outputs import SOURCES_HEADING, answer_markdown, answer_out, without_sources
from rag.prompts import REFUSAL
from rag.schema import Answer, AnswerSentence, Citation, Refusal, Support

from .conftest import ARTICLES, make_settings, served
from .servers import free_port
from .test_faults import MisbehavingLLM, llm_settings

KEY = "test-key-0123456789"
PLANTED = "Which town will host the first Glowfish Festival?"
OFF_TOPIC = "What is the best recipe for sourdough bread?"
DIRECTOR = "Who directs the observatory on Mount Kell?"
FOLLOW_UP = "How much did it cost?"
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def server(indexed, tmp_path_factory):
    """(url, log): `newsrag serve` over the indexed tests/data articles, with a login and an API key."""
    folder = tmp_path_factory.mktemp("api")
    port = free_port()
    config = folder / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{ARTICLES}"\nindex_dir = "{indexed.index_dir}"\n'
                      f'[ui]\nport = {port}\nauth_user = "reader"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSRAG_")}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", ANONYMIZED_TELEMETRY="False",
               NEWSRAG_UI_PASSWORD="secret", NEWSRAG_API_KEY=KEY)
    log = folder / "serve.log"
    with served(config, port, log, env) as url:
        yield url, log
    assert "Traceback" not in log.read_text()


@pytest.fixture(scope="module")
def client(server) -> OpenAI:
    return OpenAI(base_url=f"{server[0]}v1", api_key=KEY, max_retries=0, timeout=120)


def ask(client: OpenAI, *messages: dict[str, str], **kwargs: Any) -> Any:
    return client.chat.completions.create(model="newsrag", messages=list(messages), **kwargs)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """A raw POST: the status and the JSON body, whatever the status."""
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- against the served API --------------------------------------------------------------------------------


@pytest.mark.integration
def test_models_list_newsrag(client):
    assert [m.id for m in client.models.list()] == ["newsrag"]
    assert client.models.retrieve("newsrag").owned_by == "newsrag"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


@pytest.mark.integration
def test_an_answer_cites_its_sources_as_markers_and_as_data(client):
    reply = ask(client, user(PLANTED))
    content = reply.choices[0].message.content
    assert reply.model == "newsrag" and reply.choices[0].finish_reason == "stop"
    answer, _, sources = content.partition(f"\n\n{SOURCES_HEADING}\n\n")
    assert "Quillhaven" in answer
    citations = reply.model_extra["citations"]
    numbers = [c["number"] for c in citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {int(n) for n in MARKER.findall(answer)} == set(numbers)  # every marker has its citation and back
    for c in citations:  # the Markdown list holds each source, numbered as the markers, with its URL and quote
        assert f"{c['number']}. {c['title']} ({c['outlet']}, {c['published']}) {c['url']}".rstrip() in sources
        assert c["quote"] and f"   > {c['quote']}" in sources
    assert citations[0]["title"].startswith("Quillhaven") and citations[0]["source"] == "glowfish_festival.txt"
    about = reply.model_extra["newsrag"]
    assert about["refused"] is False and about["question"] == PLANTED and about["lead"] == "Quillhaven"


@pytest.mark.integration
def test_a_streamed_answer_reassembles_to_the_same_content(client):
    whole = ask(client, user(PLANTED))
    pieces, last = [], None
    for chunk in ask(client, user(PLANTED), stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert len(pieces) > 5 and "".join(pieces) == whole.choices[0].message.content
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == whole.model_extra["citations"]


@pytest.mark.integration
def test_a_follow_up_is_answered_from_the_history(client):
    first = ask(client, user(DIRECTOR))
    said = first.choices[0].message.content
    follow = ask(client, user(DIRECTOR), {"role": "assistant", "content": said}, user(FOLLOW_UP))
    assert "31 million" in follow.choices[0].message.content
    query = follow.model_extra["newsrag"]["query"]
    assert query != FOLLOW_UP and "Kell" in query and "Sources" not in query  # our source list is not history
    alone = ask(client, user(FOLLOW_UP))
    assert alone.model_extra["newsrag"]["query"] == FOLLOW_UP


@pytest.mark.integration
def test_filters_ride_in_the_newsrag_field(client):
    reply = ask(client, user("What did the agriculture minister say about the olive harvest?"),
                extra_body={"newsrag": {"outlet": "wire example", "since": "2023-01-01", "until": "2023-12-31"}})
    citations = reply.model_extra["citations"]
    assert citations and {c["outlet"] for c in citations} == {"Wire Example"}
    after = ask(client, user(PLANTED), extra_body={"newsrag": {"until": "2024-01-01"}})  # before the festival news
    assert "Quillhaven" not in after.choices[0].message.content


@pytest.mark.integration
def test_an_off_corpus_question_is_refused_cleanly(client):
    reply = ask(client, user(OFF_TOPIC))
    content = reply.choices[0].message.content
    about = reply.model_extra["newsrag"]
    assert content.startswith(REFUSAL) and about["refused"] is True and about["refusal_reason"] in content
    assert reply.model_extra["citations"] == [] and SOURCES_HEADING not in content


@pytest.mark.integration
def test_the_api_needs_the_bearer_key(server, client):
    url = f"{server[0]}v1"
    with pytest.raises(openai.AuthenticationError) as wrong:
        OpenAI(base_url=url, api_key="not-the-key", max_retries=0).models.list()
    assert wrong.value.status_code == 401 and wrong.value.code == "invalid_api_key"
    status, body = post(f"{url}/chat/completions", json.dumps({"model": "newsrag", "messages": [user(PLANTED)]})
                        .encode(), {})
    assert status == 401 and body["error"]["type"] == "authentication_error" and "Bearer" in body["error"]["message"]
    request = urllib.request.Request(f"{url}/models", headers={"authorization": f"Basic {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as basic:
        urllib.request.urlopen(request, timeout=30)
    assert basic.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as ui:  # the UI beside it keeps its own login
        urllib.request.urlopen(f"{server[0]}config", timeout=30)
    assert ui.value.code == 401 and "Not authenticated" in ui.value.read().decode()


@pytest.mark.integration
@pytest.mark.parametrize(("body", "code"), [
    (b'{"model": "newsrag", "messages": [', "invalid_json"),
    (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    (b'{"model": "newsrag", "messages": [{"role": "user", "content": "\\ud83d is half"}]}', "invalid_question"),
    (b"\xff\xfe not text", "invalid_json"),
    (b'["a list"]', "invalid_request"),
    (b'{"model": "newsrag"}', "invalid_request"),
    (b'{"model": "newsrag", "messages": []}', "invalid_request"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}', "model_not_found"),
    (b'{"model": "newsrag", "messages": [{"role": "system", "content": "You are helpful."}]}', "no_question"),
    (b'{"model": "newsrag", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}',
     "no_question"),
    (b'{"model": "newsrag", "messages": [{"role": "user", "content": "   "}]}', "no_question"),
    (b'{"model": "newsrag", "messages": [{"role": "user", "content": "hi"}], "newsrag": {"since": "yesterday"}}',
     "invalid_filter"),
    (b'{"model": "newsrag", "messages": [{"role": "user", "content": "hi"}], "newsrag": {"outlets": ["x"]}}',
     "invalid_request"),
    (b'{"model": "newsrag", "messages": [{"role": "user", "content": "hi"}], '
     b'"newsrag": {"since": "2024-05-01", "until": "2024-01-01"}}', "invalid_question"),
])
def test_a_bad_request_is_an_openai_shaped_400(server, body, code):
    status, reply = post(f"{server[0]}v1/chat/completions", body, {"authorization": f"Bearer {KEY}"})
    assert status == 400, reply
    error = reply["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == code and error["message"]
    assert "Traceback" not in error["message"]


@pytest.mark.integration
def test_the_client_raises_bad_request_for_an_unknown_model(client):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o", messages=[user(PLANTED)])
    assert bad.value.code == "model_not_found"


@pytest.mark.integration
def test_without_a_login_the_api_is_open_and_an_empty_index_is_a_503(tmp_path, monkeypatch, embedder):
    """In this process: `serve(block=False)` over an index with nothing in it, no login, no key."""
    from ui.server import serve

    monkeypatch.delenv("NEWSRAG_API_KEY", raising=False)
    settings = make_settings(tmp_path).replace(ui={"port": 0})
    running = serve(settings, block=False)
    assert running is not None
    try:
        client = OpenAI(base_url=f"{running.local_url}v1", api_key="anything", max_retries=0)
        assert [m.id for m in client.models.list()] == ["newsrag"]
        with pytest.raises(openai.InternalServerError) as empty:
            ask(client, user(PLANTED))
        assert empty.value.status_code == 503 and empty.value.response.headers["x-should-retry"] == "false"
        assert "newsrag ingest" in empty.value.message
        with pytest.raises(openai.InternalServerError):  # before any chunk: an error status, not a broken stream
            ask(client, user(PLANTED), stream=True)
        with pytest.raises(openai.NotFoundError) as elsewhere:
            client.embeddings.create(model="newsrag", input="glowfish")
        assert "POST /v1/embeddings is not served here" in elsewhere.value.message
        status, reply = post(f"{running.local_url}v1/chat/completions", b" " * (MAX_BODY_BYTES + 1), {})
        assert status == 413 and reply["error"]["code"] == "request_too_large"
    finally:
        running.close()
    assert not running.thread.is_alive()


@pytest.mark.integration
def test_an_llm_stream_that_breaks_gives_its_verified_part_and_a_dead_endpoint_a_503(indexed):
    """The edge's handling of the service's errors, in this process, against endpoints that misbehave."""
    question = parse_request(json.dumps({"model": "newsrag", "messages": [user(PLANTED)]}).encode())
    with MisbehavingLLM("drop") as llm:
        partial = answer_question(question, llm_settings(indexed, llm.base))
    reply = completion(partial, "chatcmpl-x", 0)
    assert reply["choices"][0]["finish_reason"] == "length" and reply["newsrag"]["complete"] is False
    assert "Quillhaven" in reply["choices"][0]["message"]["content"] and "incomplete" in reply["choices"][0]["message"]["content"]
    with MisbehavingLLM("500") as llm, pytest.raises(ApiError) as down:
        answer_question(question, llm_settings(indexed, llm.base))
    assert down.value.status == 503 and "500" in down.value.message


# -- units -------------------------------------------------------------------------------------------------


def _answer(refused: bool = False) -> Answer:
    if refused:
        return Answer("q", "q", REFUSAL, (), (), refusal=Refusal("missing_terms", "The articles never mention “x”."))
    cite = Citation(1, "a1", "a1-0", "Glowfish", "Gazette", None, "https://g.example/1", "g.txt", "Quillhaven hosts.",
                    0, 17)
    support = Support(1, "Quillhaven hosts.", 0, 17, 0.9, 1.0)
    sentences = (AnswerSentence("Quillhaven hosts it.", (1,), "supported", (support,)),
                 AnswerSentence("It is huge.", (), "unsupported"))
    return Answer("q", "q", "Quillhaven hosts it [1]. It is huge.", sentences, (cite,), lead="Quillhaven",
                  lead_citation=1, note="One passage was left out.")


@pytest.mark.unit
def test_answer_markdown_leads_marks_and_lists_sources():
    text = answer_markdown(_answer())
    assert text == ("**Quillhaven** [1] — Quillhaven hosts it [1]. It is huge. (unsupported)\n\n"
                    "*One passage was left out.*\n\nSources:\n\n"
                    "1. Glowfish (Gazette, undated) https://g.example/1\n   > Quillhaven hosts.")
    assert without_sources(text) == text.split("\n\nSources:")[0]
    refused = answer_markdown(_answer(refused=True))
    assert refused == f"{REFUSAL} The articles never mention “x”." and without_sources(refused) == refused


@pytest.mark.unit
def test_parse_request_takes_the_history_text_parts_and_filters():
    body = {"model": "newsrag", "temperature": 0.2, "stream": True, "newsrag": {"outlet": " Gazette ", "since": "2024-01-02"},
            "messages": [{"role": "system", "content": "Be brief."}, user("Who hosts it?"),
                         {"role": "assistant", "content": "Quillhaven [1].\n\nSources:\n\n1. Glowfish (Gazette, undated)"},
                         {"role": "user", "content": [{"type": "text", "text": "And when?"}, {"type": "image_url"}]}]}
    question = parse_request(json.dumps(body).encode())
    assert question.text == "And when?" and question.stream is True
    assert question.history == (("user", "Who hosts it?"), ("assistant", "Quillhaven [1]."))
    assert question.filters.outlets == ("Gazette",) and str(question.filters.since) == "2024-01-02"
    plain = parse_request(b'{"model": "newsrag", "newsrag": null, "messages": [{"role": "user", "content": "Hi?"}]}')
    assert plain.history == () and not plain.filters and plain.stream is False


@pytest.mark.unit
def test_a_login_without_an_api_key_stops_the_server(tmp_path, monkeypatch):
    from rag.errors import ConfigError

    monkeypatch.delenv("NEWSRAG_API_KEY", raising=False)
    settings = make_settings(tmp_path).replace(ui={"auth_user": "reader"})
    with pytest.raises(ConfigError, match=r"NEWSRAG_API_KEY.*\[ui\] api = false"):
        build_api(settings)
    assert [r.path for r in build_api(settings.replace(ui={"api": False})).routes] == []  # the UI alone
    monkeypatch.setenv("NEWSRAG_API_KEY", " k ")
    assert api_key(settings) == "k"
    monkeypatch.setenv("NEWSRAG_API_KEY", "")
    assert api_key(settings.replace(ui={"auth_user": ""})) == ""


@pytest.mark.unit
def test_an_api_error_is_openai_shaped():
    response = ApiError(503, "No articles indexed yet.", "newsrag_unavailable").response()
    assert response.status_code == 503 and response.headers["x-should-retry"] == "false"
    assert json.loads(bytes(response.body)) == {"error": {"message": "No articles indexed yet.", "type": "server_error",
                                                          "param": None, "code": "newsrag_unavailable"}}



@pytest.mark.unit
def test_a_port_in_use_is_one_message_and_urls_a_browser_can_reach():
    import socket

    from rag.errors import NewsragError
    from ui.server import bind, page_url

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(NewsragError, match=rf"Cannot serve on 127.0.0.1:{port}: .*\[ui\] port \(or --port\)"):
            bind("127.0.0.1", port)
    free = bind("127.0.0.1", 0)
    assert free.getsockname()[1] > 0
    free.close()
    assert page_url("0.0.0.0", 80) == "http://127.0.0.1:80/" and page_url("::", 8) == "http://[::1]:8/"
    assert page_url("localhost", 7860) == "http://localhost:7860/"


@pytest.mark.unit
def test_answer_markdown_is_stamped_as_of_its_newest_source_and_follow_ups_drop_the_stamp():
    from dataclasses import replace

    plain = _answer()
    dated = replace(plain, citations=(replace(plain.citations[0], published=date(2024, 3, 12)),))
    text = answer_markdown(dated)
    assert "\n\n*As of 2024-03-12 (the newest source cited).*\n\n" in text
    assert answer_out(dated).as_of == "2024-03-12" and answer_out(plain).as_of is None
    assert without_sources(text) == without_sources(answer_markdown(plain))  # the history keeps the answer only
