"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1 for tests: real HTTP, canned replies.

``with ScriptedLLM(["first reply", "second reply"]) as llm:`` serves ``POST /v1/chat/completions``
(streamed as server-sent events in small chunks when the request asks for ``stream``, one JSON
object otherwise) and ``GET /v1/models``. Request n gets reply n; the last reply repeats. Every
parsed request body is appended to ``llm.requests``.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any

MODEL = "scripted"


def pieces(text: str, size: int = 6) -> list[str]:
    """``text`` in chunks of about ``size`` characters, split after spaces where possible."""
    out: list[str] = []
    while text:
        cut = text.find(" ", size - 1)
        cut = size if cut < 0 or cut >= 2 * size else cut + 1
        out.append(text[:cut])
        text = text[cut:]
    return out


class ScriptedLLM:
    """An OpenAI-compatible server answering each chat request with the next scripted reply.

    ``url`` is ``http://127.0.0.1:<port>``; ``base_url`` adds ``/v1`` (what ``ChatOpenAI`` and
    ``[llm] base_url`` take). ``requests`` holds the JSON bodies received, in order.
    """

    def __init__(self, replies: list[str], chunk_chars: int = 6, delay: float = 0.0) -> None:
        if not replies:
            raise ValueError("ScriptedLLM needs at least one reply")
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        scripted = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/").endswith("/models"):
                    self._send_json(200, {"object": "list", "data": [
                        {"id": MODEL, "object": "model", "created": 0, "owned_by": "tests"}]})
                else:
                    self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError as exc:
                    self._send_json(400, {"error": {"message": f"bad JSON: {exc}", "type": "invalid_request"}})
                    return
                with scripted._lock:
                    scripted.requests.append(body)
                    reply = scripted.replies[min(len(scripted.requests), len(scripted.replies)) - 1]
                model = body.get("model") or MODEL
                usage = {"prompt_tokens": 1, "completion_tokens": len(reply.split()),
                         "total_tokens": 1 + len(reply.split())}
                if not body.get("stream"):
                    self._send_json(200, {
                        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                     "finish_reason": "stop"}],
                        "usage": usage,
                    })
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def event(delta: dict[str, Any], finish: str | None = None) -> None:
                    payload = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
                               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                    self._chunk(f"data: {json.dumps(payload)}\n\n".encode())

                event({"role": "assistant", "content": ""})
                for piece in pieces(reply, chunk_chars):
                    event({"content": piece})
                    if delay:
                        time.sleep(delay)
                event({}, "stop")
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._chunk(("data: " + json.dumps({
                        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model,
                        "choices": [], "usage": usage}) + "\n\n").encode())
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")  # the zero-length chunk that ends the response

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> ScriptedLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
