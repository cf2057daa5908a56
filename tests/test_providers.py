"""Which answerers can answer with the settings, and what to set for the others (no model loaded, no endpoint
called)."""

from __future__ import annotations

import pytest

from rag import llm
from rag.config import Settings
from rag.errors import ModelError
from rag.llm import build_chat_model, provider_problem, provider_problems

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    """Every provider's package installed (llama-cpp-python is an extra); a test may take one away."""
    missing: set[str] = set()
    monkeypatch.setattr(llm, "_installed", lambda module: module not in missing)
    return missing


def test_by_default_only_the_extractive_answerer_is_configured(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    problems = provider_problems(Settings())
    assert "extractive" not in problems and set(problems) == {"llamacpp", "openai", "ollama"}
    assert "[llm] model_path" in problems["llamacpp"] and "[llm] model" in problems["ollama"]


def test_each_provider_is_configured_by_what_it_needs(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    llama = Settings().replace(llm={"model_path": str(tmp_path / "missing.gguf")})
    assert provider_problem(llama, "llamacpp").startswith("Model file not found")
    assert provider_problem(llama.replace(llm={"model_path": str(gguf)}), "llamacpp") == ""
    assert provider_problem(Settings().replace(llm={"hf_repo": "a/b", "hf_file": "m.gguf"}), "llamacpp") == ""
    named = Settings().replace(llm={"model": "gpt-x"})
    assert "OPENAI_API_KEY" in provider_problem(named, "openai")
    assert provider_problem(named.replace(llm={"base_url": "http://127.0.0.1:9/v1"}), "openai") == ""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert provider_problem(named, "openai") == "" and provider_problem(named, "ollama") == ""
    assert "Unknown LLM provider 'gemini'" in provider_problem(named, "gemini")


def test_a_missing_package_says_what_to_install(installed):
    installed.add("llama_cpp")
    assert "pip install 'newsrag[llamacpp]'" in provider_problem(Settings(), "llamacpp")


def test_making_an_unconfigured_model_raises_the_same_words():
    with pytest.raises(ModelError) as raised:
        build_chat_model(Settings(), "ollama")
    assert str(raised.value) == provider_problem(Settings(), "ollama")
