"""The OpenAI-compatible API: newsrag as a model that any OpenAI client can call (open-webui, LibreChat, the
``openai`` package). ``newsrag serve`` mounts the web UI on the same app, so both share one host and port.

    GET  /v1/models             -> {"object": "list", "data": [{"id": "newsrag", "object": "model", ...}]}
    GET  /v1/models/newsrag     -> that model
    POST /v1/chat/completions   -> an answer from the index; with "stream": true, as server-sent events

An edge, like the CLI and the MCP server: it checks the request, calls :func:`rag.service.ask` and turns the
answer into OpenAI's shapes. Invariants:

* The question is the last user or assistant message, which must be the user's; the earlier user and assistant
  messages are the history follow-ups are resolved against (as the UI's), an assistant message without the source
  list this API appended to it. System, developer and tool messages are ignored: newsrag's prompts are its own.
* ``message.content`` is :func:`rag.outputs.answer_markdown`: the verified answer with its [n] markers, then the
  numbered source list. ``citations`` holds the same sources as data (number = the marker), and ``newsrag`` says
  whether the question was refused and why, the query retrieval used, whether the answer is complete and where the
  sources give different figures (``disagreements``). A refusal
  is an answer (200); so is the verified part of an LLM answer whose stream broke (finish_reason "length").
* A streamed answer is the same content cut into pieces, its last chunk carrying ``citations`` and ``newsrag``. It
  is sent once the answer is verified: verification can move or drop a model's markers, so unverified text is never
  sent, and an extractive answer is whole at once anyway.
* Filters ride in the request's ``newsrag`` field: ``{"since": "YYYY-MM-DD", "until": "YYYY-MM-DD", "outlet": "..."}``
  (inclusive days; other keys are refused). Sampling fields (temperature, max_tokens ...) are accepted and ignored.
* Auth: when the variable named by ``[ui] api_key_env`` holds a key, every request needs ``Authorization: Bearer
  KEY``; with ``[ui] auth_user`` set the key must exist (:func:`api_key` raises ConfigError when the server starts).
* Every failure is an OpenAI-shaped body ``{"error": {"message", "type", "param", "code"}}``: 401 for a missing or
  wrong key; 400 for a request that cannot be used (not JSON, no question, an unknown model, a bad filter); 404 for
  another path under /v1; 413 for a body over ``MAX_BODY_BYTES``; 503
  when the index or the model cannot answer (an empty index, an endpoint that is down), with ``x-should-retry:
  false``; 500 for anything unexpected, logged with its traceback. No traceback reaches the client.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from rag.config import Settings
from rag.dates import typed_filters
from rag.errors import ConfigError, NewsragError
from rag.outputs import answer_markdown, answer_out, without_sources
from rag.schema import Answer, Filters

log = logging.getLogger(__name__)

MODEL = "newsrag"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a request body (a question and its history) larger than this is refused
ROUTES = "GET /v1/models, GET /v1/models/newsrag and POST /v1/chat/completions"
ROLES = ("user", "assistant")  # the messages that make the conversation; the others are ignored
_PIECE = re.compile(r"(?<=\s)(?=\S)")  # streamed content is cut before each word, so the pieces join to the whole


class ApiError(Exception):
    """A request the API answers with an OpenAI-shaped error of ``status``."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def response(self) -> JSONResponse:
        kind = ("authentication_error" if self.status == 401 else "invalid_request_error" if self.status < 500
                else "server_error")
        headers = {"www-authenticate": "Bearer"} if self.status == 401 else {}
        if self.status == 503:
            headers["x-should-retry"] = "false"  # the index or the model will not be back by itself in a second
        body = {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=headers)


class _Options(BaseModel):
    """The request's ``newsrag`` field: the explicit filters."""

    model_config = ConfigDict(extra="forbid")
    since: str | None = None
    until: str | None = None
    outlet: str | None = None


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str = ""


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls ...
    role: str
    content: str | list[_Part] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: the text ones
            return " ".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class _ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, user, stream_options ...: accepted, ignored
    model: str
    messages: list[_Message] = Field(min_length=1)
    stream: bool = False
    newsrag: _Options | None = None


@dataclass(frozen=True)
class Question:
    """What a chat request asks: the question, the conversation before it, the filters, and how to reply."""

    text: str
    history: tuple[tuple[str, str], ...]
    filters: Filters
    stream: bool


def parse_request(body: bytes) -> Question:
    """The question a request body asks; ApiError (400) naming what is wrong when it cannot be used."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}", "invalid_json") from exc
    except RecursionError as exc:
        raise ApiError(400, "The request body is nested too deeply to read.", "invalid_json") from exc
    try:
        request = _ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ApiError(400, f"Invalid request: {where or 'body'}: {first['msg']}{more}", "invalid_request",
                       where) from exc
    if request.model != MODEL:
        raise ApiError(400, f"The model {request.model!r} does not exist: this server serves {MODEL!r}.",
                       "model_not_found", "model")
    said = [(m.role, m.text()) for m in request.messages if m.role in ROLES]
    if not said or said[-1][0] != "user" or not said[-1][1].strip():
        raise ApiError(400, "The last message must be the user's question (role \"user\", with text).",
                       "no_question", "messages")
    history = tuple((role, without_sources(text) if role == "assistant" else text) for role, text in said[:-1]
                    if text.strip())
    options = request.newsrag or _Options()
    try:
        filters = typed_filters(options.since, options.until, options.outlet)
    except NewsragError as exc:
        raise ApiError(400, str(exc), "invalid_filter", "newsrag") from exc
    return Question(said[-1][1], history, filters, request.stream)


def answer_question(question: Question, settings: Settings) -> Answer:
    """The service's answer, or the part of it that arrived before a model's stream broke (``complete`` False);
    ApiError for any other error (400 when the input cannot be used, else 503)."""
    from rag.service import Done, Error, ask

    for event in ask(question.text, question.history, question.filters, settings):
        if isinstance(event, Done):
            return event.answer
        if isinstance(event, Error):
            if event.partial is not None:
                return event.partial
            if event.invalid:
                raise ApiError(400, event.message, "invalid_question", "messages")
            raise ApiError(503, event.message, "newsrag_unavailable")
    raise ApiError(500, "No answer was produced.", "no_answer")  # pragma: no cover - ask ends with Done or Error


def extras(answer: Answer) -> dict[str, Any]:
    """The fields a completion carries beside OpenAI's: ``citations`` and ``newsrag``."""
    out = answer_out(answer)
    about = out.model_dump(include={"question", "refused", "refusal_reason", "refusal_kind", "lead", "note",
                                    "provider", "disagreements"})
    return {"citations": [c.model_dump() for c in out.citations],
            "newsrag": {**about, "query": answer.query, "complete": answer.complete}}


def finish_reason(answer: Answer) -> Literal["stop", "length"]:
    """"length" for an answer the model stopped mid-way (OpenAI's word for a cut-off answer), else "stop"."""
    return "stop" if answer.complete else "length"


def completion(answer: Answer, ident: str, created: int) -> dict[str, Any]:
    """A ``chat.completion`` object holding the answer."""
    message = {"role": "assistant", "content": answer_markdown(answer)}
    return {"id": ident, "object": "chat.completion", "created": created, "model": MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(answer), "logprobs": None}],
            **extras(answer)}


def chunk_events(answer: Answer, ident: str, created: int) -> list[str]:
    """The answer as server-sent ``chat.completion.chunk`` events, then ``data: [DONE]`` (made before any is sent)."""
    head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL}

    def event(delta: dict[str, str], finish: str | None = None, **more: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps({**head, 'choices': [choice], **more}, ensure_ascii=False)}\n\n"

    pieces = [event({"content": piece}) for piece in _PIECE.split(answer_markdown(answer))]
    last = event({}, finish_reason(answer), **extras(answer))
    return [event({"role": "assistant", "content": ""}), *pieces, last, "data: [DONE]\n\n"]


def api_key(settings: Settings) -> str:
    """The bearer key every request must carry ("" = none): the variable ``[ui] api_key_env`` names.
    ConfigError when ``[ui] auth_user`` is set and it holds no key: a login must not leave the API open."""
    key = os.environ.get(settings.ui.api_key_env, "").strip()
    if settings.ui.auth_user and not key:
        raise ConfigError(f"[ui] auth_user is set: put the OpenAI-compatible API's bearer key in the environment "
                          f"variable {settings.ui.api_key_env}, or set [ui] api = false to serve the UI alone")
    return key


def build_api(settings: Settings) -> FastAPI:
    """The app ``newsrag serve`` runs: the /v1 routes when ``[ui] api`` is on (the UI is mounted on it later).
    Reads the key now, so a missing one stops the server from starting."""
    app = FastAPI(title="newsrag", docs_url=None, redoc_url=None, openapi_url=None)
    if not settings.ui.api:
        return app
    key = api_key(settings)
    created = int(time.time())
    card = {"id": MODEL, "object": "model", "created": created, "owned_by": "newsrag"}

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    async def authorized(request: Request) -> None:
        if not key:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise ApiError(401, f"Missing or wrong API key: send the key of ${settings.ui.api_key_env} as "
                                "'Authorization: Bearer KEY'.", "invalid_api_key")

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [card]}

    @app.get("/v1/models/{model}", dependencies=[Depends(authorized)])
    def get_model(model: str) -> dict[str, Any]:
        if model != MODEL:
            raise ApiError(404, f"The model {model!r} does not exist: this server serves {MODEL!r}.",
                           "model_not_found", "model")
        return card

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)], response_model=None)
    async def chat_completions(request: Request) -> JSONResponse | StreamingResponse:
        ident, created_at = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
        try:
            question = parse_request(await read_body(request))
            answer = await run_in_threadpool(answer_question, question, settings)
            if question.stream:
                return StreamingResponse(iter(chunk_events(answer, ident, created_at)), media_type="text/event-stream",
                                         headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
            return JSONResponse(completion(answer, ident, created_at))
        except ApiError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged with its traceback; the client gets one line
            log.exception("unexpected error in %s %s", request.method, request.url.path)
            raise ApiError(500, f"Unexpected error ({type(exc).__name__}); see the server log.", "internal_error") \
                from exc

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   dependencies=[Depends(authorized)])
    def elsewhere(request: Request, path: str) -> None:
        raise ApiError(404, f"{request.method} /v1/{path} is not served here: newsrag serves {ROUTES}.", "not_found")

    return app


async def read_body(request: Request) -> bytes:
    """The request body; ApiError (413) past MAX_BODY_BYTES, read no further."""
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"The request body is over {MAX_BODY_BYTES // 2**20} MB: send a shorter history.",
                           "request_too_large")
    return bytes(body)
