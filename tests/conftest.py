"""Shared fixtures: the real embedding model (loaded once), settings on a tmp_path index."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import wait_until_answers

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
ARTICLES = DATA / "articles"
BAD = DATA / "bad"


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2, loaded once per test session."""
    from rag.config import EmbedSettings
    from rag.embed import get_embedder

    model = get_embedder(EmbedSettings())
    model.embed_query("warm up")
    return model


def make_settings(tmp_path: Path, articles: Path | None = None, **sections):
    from rag.config import PathsSettings, Settings

    settings = Settings(
        paths=PathsSettings(articles_dir=articles or tmp_path / "articles", index_dir=tmp_path / "index"),
        base_dir=tmp_path,
    )
    return settings.replace(**sections) if sections else settings


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    """tests/data/articles (six articles) indexed once per test module; the settings to reach them."""
    from ingest.index import ingest_paths

    settings = make_settings(tmp_path_factory.mktemp("indexed"), ARTICLES)
    report = ingest_paths([ARTICLES], settings, embedder=embedder)
    assert report.totals["added"] == 6
    return settings


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    """A writable copy of tests/data/articles."""
    target = tmp_path / "articles"
    shutil.copytree(ARTICLES, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, articles_dir: Path):
    return make_settings(tmp_path, articles_dir)


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that logs nothing, with :meth:`send` for a whole 200 reply."""

    def send(self, kind: str, text: str, **headers: str) -> None:
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 (a free port) in a daemon thread; ``base`` is its URL, ``close()`` stops it."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until_up(url: str, proc, seconds: float, what: str, log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200; fail the test (with the end of ``log``) if ``proc`` exits or time runs
    out, killing ``proc`` if it still runs."""
    try:
        wait_until_answers(url, proc, what, seconds)
    except RuntimeError as exc:
        if proc is not None and proc.poll() is None:
            proc.kill()
        tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
        pytest.fail(f"{exc} {tail}")


@contextmanager
def served(config: Path, port: int, log: Path, env: dict[str, str]) -> Iterator[str]:
    """`newsrag --config CONFIG serve` in a child process, its output in ``log``, until the block ends; its URL
    (``port`` is the one the config names). Stopped with SIGTERM, then SIGKILL after 20 s."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "--config", str(config), "serve"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_up(url, proc, 180, "newsrag serve", log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
