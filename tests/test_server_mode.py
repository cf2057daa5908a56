"""[store] mode = "http": ingest and ask against a real `chroma run` on 127.0.0.1; copy an index into it;
a server that stops mid-ingest gives a clear error and a later run completes the batch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.index import ingest_paths
from rag.service import answer
from rag.store import get_store

from .conftest import ARTICLES, make_settings, wait_until_up
from .servers import free_port
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
    store = get_store(settings, embedder.name)
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
    assert len(check_consistent(get_store(remote, embedder.name))) == 6
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
        assert len(check_consistent(get_store(settings, embedder.name))) == 12
    finally:
        server.stop()
    shutil.rmtree(tmp_path / "db", ignore_errors=True)


def serve_config(tmp_path: Path, name: str, chroma_port: int) -> tuple[Path, int]:
    """A config for one `newsrag serve` on the shared Chroma server, with its own folder (its own lexical index)."""
    port = free_port()
    folder = tmp_path / name
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text(f'[paths]\narticles_dir = "{folder / "articles"}"\nindex_dir = "{folder / "cache"}"\n'
                      f'[store]\nmode = "http"\nhost = "127.0.0.1"\nport = {chroma_port}\n[ui]\nport = {port}\n')
    return config, port


def ask_api(port: int, question: str) -> dict:
    import urllib.request

    body = json.dumps({"model": "newsrag", "messages": [{"role": "user", "content": question}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


def test_two_serve_processes_on_one_chroma_server_see_each_other_s_ingests(tmp_path, embedder, chroma):
    """Each query compares the shared store's version with the one its lexical index was built from, so an article
    ingested through one serve process is found, by words as well as by meaning, by the next question the other
    one answers: no process answers from a stale copy."""
    from gradio_client import Client

    seed = http_settings(tmp_path / "seed", ARTICLES, chroma.port)
    ingest_paths([ARTICLES], seed, embedder=embedder)
    shared = get_store(seed, embedder.name)
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    procs = []
    try:
        ports = []
        for name in ("a", "b"):
            config, port = serve_config(tmp_path, name, chroma.port)
            log = (tmp_path / f"{name}.log").open("w")
            procs.append(subprocess.Popen([sys.executable, "-m", "rag.cli", "--config", str(config), "serve"], cwd=ROOT,
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
            ports.append(port)
        for proc, port, name in zip(procs, ports, "ab"):
            wait_until_up(f"http://127.0.0.1:{port}/v1/models", proc, 180, f"serve {name}", tmp_path / f"{name}.log")
        question = "How many ships did the harbour of Orvik handle this spring?"
        before = ask_api(ports[1], question)
        assert "4,321" not in before["choices"][0]["message"]["content"]
        _, summary, *_ = Client(f"http://127.0.0.1:{ports[0]}/", verbose=False).predict(
            title="Orvik harbour has its busiest spring", day="2024-05-01", outlet="Orvik Post", url="",
            text="The harbour of Orvik handled 4,321 ships this spring, the port authority said on Wednesday, "
                 "its busiest season since the new quay opened.", api_name="/ingest_text")
        assert "added" in summary.lower(), summary
        built = tmp_path / "b" / "cache" / "bm25" / "news" / "meta.json"
        assert json.loads(built.read_text())["version"] != shared.version()  # b's lexical copy is now stale ...
        after = ask_api(ports[1], question)
        assert json.loads(built.read_text())["version"] == shared.version()  # ... and brought up to date for this
        assert len(json.loads(built.read_text())["segments"]) == 2  # question, from the change log: one new segment
        content = after["choices"][0]["message"]["content"]
        assert "4,321" in content and not after["newsrag"]["refused"], content
        assert any(c["title"] == "Orvik harbour has its busiest spring" for c in after["citations"])
        for name in "ab":
            assert "Traceback" not in (tmp_path / f"{name}.log").read_text()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    for name in "ab":  # the client's open event stream was cut at the stop: said in one line, without a traceback
        assert "Traceback" not in (tmp_path / f"{name}.log").read_text()


def test_a_reader_on_another_machine_answers_from_its_committed_index_while_an_ingest_writes(tmp_path, embedder,
                                                                                           chroma, monkeypatch):
    """A serve process whose index folder is on another machine cannot see an ingest's marker or lock: the run's
    open entry in the shared change log tells it that the run is writing, so it keeps answering from the lexical
    index it has instead of rebuilding from a half-written Chroma inside a question, then adds the run as one
    segment. A run that went silent (killed) means rebuild, as the next ingest will."""
    from ingest.index import indexing
    from rag import store as store_module
    from rag.lexical import LexicalIndex, build_lexical_cache, tokens
    from rag.schema import Article

    writer = http_settings(tmp_path / "writer", ARTICLES, chroma.port)
    ingest_paths([ARTICLES], writer, embedder=embedder)
    reader_settings = http_settings(tmp_path / "reader", ARTICLES, chroma.port)
    reader = build_lexical_cache(reader_settings, get_store(reader_settings, embedder.name), reader=True)
    committed = reader.get()
    build = LexicalIndex.build

    def rebuilt(*args, **kwargs):
        raise AssertionError("rebuilt the lexical index")

    def article(n: int) -> Article:
        return Article(key=f"file:orvik{n}", title=f"Orvik harbour report {n}", source=f"orvik{n}.txt",
                       text=f"The harbour of Orvik handled {n},321 ships this spring, its authority said. " * 3)

    store = get_store(writer, embedder.name)
    with indexing(writer, embedder, store) as indexer:
        indexer.process([article(4)])  # written: Chroma holds the new chunks, the change log only the open entry
        assert store.version() != committed.version
        monkeypatch.setattr(LexicalIndex, "build", classmethod(rebuilt))
        during = reader.get()
        assert during.version == committed.version and during.chunk_ids == committed.chunk_ids
        with pytest.raises(AssertionError, match="rebuilt"):  # a writer never answers from an old index
            build_lexical_cache(reader_settings, get_store(reader_settings, embedder.name)).get()
        monkeypatch.setattr(store_module, "RUN_SILENCE", -1.0)  # as if the run had been killed long ago
        with pytest.raises(AssertionError, match="rebuilt"):
            reader.get()
        monkeypatch.setattr(store_module, "RUN_SILENCE", 600.0)
        monkeypatch.setattr(LexicalIndex, "build", build)
    monkeypatch.setattr(LexicalIndex, "build", classmethod(rebuilt))
    caught = reader.get()  # the run's change log leads on from the committed version: one segment, no rebuild
    assert caught.version == store.version() and len(caught) == store.count_chunks()
    assert len(caught.segments) == len(committed.segments) + 1 and caught.frequency(tokens("orvik")[0]) > 0
