"""``newsrag serve``: one FastAPI app under uvicorn, holding the OpenAI-compatible API (:mod:`rag.api`, the ``/v1``
routes) and the Gradio page (:func:`ui.app.build_app`, mounted at ``/``), on ``[ui] host`` and ``port``.

Everything ``gr.Blocks.launch`` did for the page is kept: the login (``[ui] auth_user``), the upload limit, the CSS
and head, the queue of 8 workers, no analytics, ``--open``, ``--watch``. With ``[feeds] urls`` set, a background
thread polls the feeds every ``[feeds] interval_minutes`` (:class:`ingest.feeds.FeedPoller`), stopped with the
server. The socket is bound before the models load, so a port in use is one message naming ``[ui] port``; a missing
API key under a login stops it earlier still.
Ctrl-C or SIGTERM stop it gracefully (open event streams are cut after ``SHUTDOWN_GRACE_S``).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import webbrowser
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.errors import ConfigError, NewsragError
from ui import render, story_views
from ui.app import build_app  # first: it turns Gradio's analytics off before gradio is imported

if TYPE_CHECKING:
    from ingest.feeds import FeedPoller

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 3  # open streams (a page's event stream) are cut this long after a stop is asked for
START_TIMEOUT_S = 60  # serve(block=False) gives up waiting for the server to accept connections after this


class _CutAtShutdown(logging.Filter):
    """Drops uvicorn's traceback for a request cancelled because the server stopped (a page's or a client's open
    event stream, cut after ``SHUTDOWN_GRACE_S``): uvicorn's own line before it says so ("Cancel 1 running task(s),
    timeout graceful shutdown exceeded"), and a stop asked for is no error to show a user."""

    def filter(self, record: logging.LogRecord) -> bool:
        import asyncio

        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def auth(settings: Settings) -> tuple[str, str] | None:
    if not settings.ui.auth_user:
        return None
    password = os.environ.get(settings.ui.auth_password_env, "")
    if not password:
        raise ConfigError(f"[ui] auth_user is set: put the password in the environment variable "
                          f"{settings.ui.auth_password_env}")
    return settings.ui.auth_user, password


class Served:
    """A running ``newsrag serve`` (``serve(..., block=False)``): its URL, the app, and ``close()``."""

    def __init__(self, server: Any, thread: threading.Thread, local_url: str, app: Any,
                 poller: FeedPoller | None = None) -> None:
        self.server, self.thread, self.local_url, self.app = server, thread, local_url, app
        self.poller = poller  # polling the [feeds] urls, when there are any

    def close(self) -> None:
        """Stop serving and wait for the server to finish (open streams are cut after a grace period), and the
        feed poller with it."""
        self.server.should_exit = True
        self.thread.join(timeout=SHUTDOWN_GRACE_S + 10)
        if self.poller is not None:
            self.poller.stop()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0 = a free one); NewsragError naming the setting when it fails."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
    except OSError as exc:
        raise NewsragError(f"Cannot serve on {host}: {exc.strerror or exc}. Check [ui] host (or --host).") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise NewsragError(f"Cannot serve on {host}:{port}: {exc.strerror or exc}. Pick another [ui] port "
                           "(or --port), or stop what is using it.") from exc
    sock.set_inheritable(True)
    return sock


def page_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(settings: Settings, open_browser: bool = False, watch: bool = False, block: bool = True) -> Served | None:
    """Serve the UI and the OpenAI-compatible API (``rag.api``) as one FastAPI app on ``[ui] host`` and ``port``,
    with uvicorn (and start the folder watcher). Blocks until interrupted unless ``block`` is False, when it returns
    the running server once it accepts connections."""
    import gradio as gr
    import uvicorn

    from rag.api import build_api
    from rag.service import get_engine

    login = auth(settings)
    web = build_api(settings)  # before anything loads: a missing API key stops here
    sock = bind(settings.ui.host, settings.ui.port)
    port = sock.getsockname()[1]
    url = page_url(settings.ui.host, port)
    blocks = build_app(settings)
    try:
        get_engine(settings).warm()
    except NewsragError as exc:
        log.warning("%s", exc)
    if watch:
        from ingest.watch import start_watcher

        start_watcher(settings)
    poller = None
    if settings.feeds.urls:
        from ingest.feeds import start_feed_poller

        poller = start_feed_poller(settings)
    blocks.queue(default_concurrency_limit=8)
    gr.mount_gradio_app(web, blocks, path="/", server_name=settings.ui.host, server_port=port, auth=login,
                        show_error=True, css=render.CSS + story_views.CSS,
                        head=render.HEAD + story_views.HEAD,
                        max_file_size=f"{settings.ui.max_upload_mb:g}mb")
    config = uvicorn.Config(web, log_level="warning", access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    server = uvicorn.Server(config)
    if not any(isinstance(f, _CutAtShutdown) for f in logging.getLogger("uvicorn.error").filters):
        logging.getLogger("uvicorn.error").addFilter(_CutAtShutdown())

    def announce() -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started and time.monotonic() < deadline and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            api = f" and the OpenAI-compatible API on {url}v1" if settings.ui.api else ""
            sys.stderr.write(f"newsrag: serving the chat on {url}{api}\n")
            if open_browser:
                webbrowser.open(url)

    if block:
        threading.Thread(target=announce, name="newsrag-announce", daemon=True).start()
        try:
            server.run(sockets=[sock])  # in the main thread: Ctrl-C and SIGTERM shut it down gracefully
        finally:
            if poller is not None:
                poller.stop()
        return None
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="newsrag-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        sock.close()
        if poller is not None:
            poller.stop()
        raise NewsragError(f"The server on {url} did not start; see the log.")
    return Served(server, thread, url, web, poller)
