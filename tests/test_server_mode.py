"""[store] mode = "http": ingest and ask against a real `chroma run` on 127.0.0.1; copy an index into it;
a server that stops mid-ingest gives a clear error and a later run completes the batch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.index import ingest_paths
from rag.service import answer
from rag.store import open_store

from .conftest import ARTICLES, free_port, make_settings, wait_until_up
from .test_crash import make_corpus
from .test_ingest import check_consistent

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
CHROMA = Path(sys.executable).parent / "chroma"


class ChromaServer:
    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", self.proc, 60, "chroma run")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def chroma(tmp_path):
    server = ChromaServer(tmp_path / "chroma-server", free_port())
    server.start()
    yield server
    server.stop()


def http_settings(tmp_path, articles, port, **sections):
    return make_settings(tmp_path, articles, store={"mode": "http", "host": "127.0.0.1", "port": port}, **sections)


def test_ingest_and_ask_against_a_chroma_server(tmp_path, embedder, chroma):
    settings = http_settings(tmp_path, ARTICLES, chroma.port)
    report = ingest_paths([ARTICLES], settings, embedder=embedder)
    assert report.totals["added"] == 6 and not report.failed
    store = open_store(settings, embedder.name)
    assert "http://127.0.0.1" in store.location and len(check_consistent(store)) == 6
    again = ingest_paths([ARTICLES], settings, embedder=embedder)
    assert again.totals["unchanged"] == 6 and again.chunks_embedded == 0
    result = answer("Which town will host the first Glowfish Festival?", settings=settings)
    assert "Quillhaven" in result.text and result.citations


def test_copy_an_embedded_index_into_a_server(tmp_path, embedder, chroma, capsys):
    from rag import cli

    local = make_settings(tmp_path / "local", ARTICLES)
    ingest_paths([ARTICLES], local, embedder=embedder)
    source = tmp_path / "local.toml"
    source.write_text(f'[paths]\nindex_dir = "{local.index_dir}"\n')
    target = tmp_path / "server.toml"
    target.write_text(f'[paths]\nindex_dir = "{tmp_path / "server-cache"}"\n'
                      f'[store]\nmode = "http"\nhost = "127.0.0.1"\nport = {chroma.port}\n')
    assert cli.main(["--config", str(source), "copy-index", "--to", str(target)]) == 0
    assert "copied 6 articles" in capsys.readouterr().out
    remote = http_settings(tmp_path / "server-cache-root", ARTICLES, chroma.port)
    remote = remote.replace(paths={"index_dir": str(tmp_path / "server-cache")})
    assert len(check_consistent(open_store(remote, embedder.name))) == 6
    assert "Quillhaven" in answer("Which town will host the first Glowfish Festival?", settings=remote).text
    assert ingest_paths([ARTICLES], remote, embedder=embedder).totals["unchanged"] == 6


def test_server_stopped_mid_ingest_then_completed(tmp_path, embedder):
    folder = tmp_path / "articles"
    make_corpus(folder, 12)
    server = ChromaServer(tmp_path / "db", free_port())
    server.start()
    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\narticles_dir = "{folder}"\nindex_dir = "{tmp_path / "cache"}"\n[ingest]\nbatch_chunks = 6\n'
                      f'[store]\nmode = "http"\nhost = "127.0.0.1"\nport = {server.port}\n')
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "--config", str(config), "ingest", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("added"):
            break
    server.stop()
    out, err = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert f"127.0.0.1:{server.port}" in err and "Traceback" not in err
    server.start()
    try:
        settings = make_settings(tmp_path, folder, store={"mode": "http", "host": "127.0.0.1", "port": server.port},
                                 ingest={"batch_chunks": 6}).replace(paths={"index_dir": str(tmp_path / "cache")})
        report = ingest_paths([folder], settings, embedder=embedder)
        assert not report.failed
        assert len(check_consistent(open_store(settings, embedder.name))) == 12
    finally:
        server.stop()
    shutil.rmtree(tmp_path / "db", ignore_errors=True)
