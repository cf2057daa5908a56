"""Chat-model factory: llama.cpp (local GGUF), any OpenAI-compatible endpoint, or Ollama.

Each returns a LangChain chat model (streaming) plus a token counter for
fitting the context. Models are created lazily and cached per settings.
Failures become :class:`ModelError` with a message naming what to fix.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import LLM_PROVIDERS, LLMSettings, Settings, cpu_threads
from rag.errors import ModelError

log = logging.getLogger(__name__)

# Repetition penalties: small instruct models (0.5B GGUF) otherwise repeat the same sentence over and over.
# llama.cpp and Ollama multiply the logits of recently seen tokens down (1.0 = off; llama-cpp-python's
# create_chat_completion defaults to 1.0, Ollama to 1.1); 1.1 is the usual mild setting. OpenAI-compatible
# endpoints take frequency_penalty on OpenAI's additive -2..2 scale instead (0 = off); 0.3 is modest.
LLAMACPP_REPEAT_PENALTY = 1.1
OLLAMA_REPEAT_PENALTY = 1.1
OPENAI_FREQUENCY_PENALTY = 0.3


@dataclass
class ChatModel:
    """A LangChain chat model with what the answerer needs to fit prompts to it."""

    model: Any  # langchain_core BaseChatModel
    name: str
    context_window: int
    count_tokens: Callable[[str], int]
    endpoint: str = ""  # where it runs: a file path or a URL, for error messages


def _gguf_path(cfg: LLMSettings, base: Path) -> Path:
    path = Path(cfg.model_path).expanduser()
    return path if path.is_absolute() else base / path


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def provider_problem(settings: Settings, provider: str) -> str:
    """What to set before ``provider`` can answer, or "" when it is configured. Checked without loading a model
    or calling an endpoint (so a configured endpoint may still be down), in a few milliseconds: the UI offers
    only providers without a problem, and :func:`build_chat_model` raises this message as a :class:`ModelError`."""
    cfg = settings.llm
    if provider == "extractive":
        return ""
    if provider == "llamacpp":
        if not _installed("llama_cpp"):
            return "The llamacpp provider needs llama-cpp-python: pip install 'newsrag[llamacpp]'."
        if cfg.model_path:
            path = _gguf_path(cfg, settings.base_dir)
            return "" if path.is_file() else f"Model file not found: {path}. Set [llm] model_path to a GGUF file."
        if cfg.hf_repo and cfg.hf_file:
            return ""
        return "The llamacpp provider needs [llm] model_path (a GGUF file) or hf_repo and hf_file."
    if provider == "openai":
        if not _installed("langchain_openai"):
            return "The openai provider needs langchain-openai: pip install langchain-openai."
        if not cfg.model:
            return "The openai provider needs [llm] model (the model name the endpoint serves)."
        key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        if not key and not cfg.base_url:
            return (f"Set the environment variable {cfg.api_key_env} to your API key, or [llm] base_url "
                    "to an OpenAI-compatible server that needs none.")
        return ""
    if provider == "ollama":
        if not _installed("langchain_ollama"):
            return "The ollama provider needs langchain-ollama: pip install langchain-ollama."
        return "" if cfg.model else "The ollama provider needs [llm] model (for example llama3.2)."
    return f"Unknown LLM provider {provider!r}: choose one of {', '.join(LLM_PROVIDERS)}."


def provider_problems(settings: Settings) -> dict[str, str]:
    """Each provider that cannot answer with these settings, and what to set for it (see :func:`provider_problem`)."""
    return {p: problem for p in LLM_PROVIDERS if (problem := provider_problem(settings, p))}


def resolve_gguf(cfg: LLMSettings, base: Path) -> Path:
    """The GGUF file: ``model_path``, else ``hf_repo``/``hf_file`` from the Hugging Face cache (downloaded once).
    Call after :func:`provider_problem` found nothing to set."""
    if cfg.model_path:
        return _gguf_path(cfg, base)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover
        raise ModelError("huggingface_hub is needed to download [llm] hf_repo") from exc
    try:
        return Path(hf_hub_download(cfg.hf_repo, cfg.hf_file, cache_dir=cfg.hf_cache_dir or None))
    except Exception as exc:  # noqa: BLE001 - offline, missing repo, auth: all need the user
        raise ModelError(
            f"Could not get {cfg.hf_file} from Hugging Face repo {cfg.hf_repo} ({type(exc).__name__}: {exc}). "
            "When offline, download it once elsewhere and set [llm] model_path."
        ) from exc


@functools.lru_cache(maxsize=2)
def _load_llama(path: str, n_ctx: int, threads: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelError("llama-cpp-python is not installed: pip install 'newsrag[llamacpp]'") from exc
    try:
        # 0 = every core: llama-cpp-python's own default (half the cores) generated on 1 of 2 here, 39 tokens/s
        # against 62 on both (bench/bench_llm_threads.py); on a machine with SMT, [llm] threads = its physical cores
        llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads or os.cpu_count() or 1, verbose=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"llama.cpp could not load {path}: {exc}") from exc
    atexit.register(llama.close)  # free it while the interpreter is intact, not in __del__ at shutdown
    metadata = getattr(llama, "metadata", None) or {}
    if not metadata.get("tokenizer.chat_template") and str(metadata.get("general.architecture", "")).startswith("gemma"):
        # A Gemma file without a template (the bundled 270M): llama-cpp-python would fall back to Llama 2's
        # [INST] <<SYS>> format, which Gemma never saw; its own turn markers are the built-in "gemma" format.
        llama.chat_format = "gemma"
    return llama


def fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages with the system prompt put at the head of the first user turn, for chat formats that have
    no system role (llama-cpp-python's "gemma" drops a system message)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    first = next((m for m in rest if m["role"] == "user"), None)
    if first is None:
        return [{"role": "user", "content": system}, *rest]
    first["content"] = f"{system}\n\n{first['content']}"
    return rest


def _llamacpp_chat_class() -> type:
    """A minimal LangChain chat model over llama-cpp-python's chat completion (the GGUF's own template)."""
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    roles = {"human": "user", "ai": "assistant", "system": "system"}

    class LlamaCppChat(BaseChatModel):
        client: Any
        model_name: str = "llamacpp"
        temperature: float = 0.1
        max_tokens: int = 384
        repeat_penalty: float = LLAMACPP_REPEAT_PENALTY

        @property
        def _llm_type(self) -> str:
            return "newsrag-llamacpp"

        def _messages(self, messages: list[BaseMessage]) -> list[dict[str, str]]:
            out = [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]
            if getattr(self.client, "chat_format", "") == "gemma":
                out = fold_system(out)
            return out

        def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                    run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            lock = getattr(self.client, "_newsrag_lock", None)
            if lock is None:
                lock = self.client._newsrag_lock = threading.Lock()
            with lock:  # one generation at a time per loaded model
                stream = self.client.create_chat_completion(
                    messages=self._messages(messages), stream=True, stop=stop,
                    temperature=self.temperature, max_tokens=self.max_tokens, repeat_penalty=self.repeat_penalty,
                )
                for part in stream:
                    delta = part["choices"][0].get("delta", {}).get("content") or ""
                    if delta:
                        chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                        if run_manager:
                            run_manager.on_llm_new_token(delta, chunk=chunk)
                        yield chunk

        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                      run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
            text = "".join(str(c.message.content) for c in self._stream(messages, stop, run_manager, **kwargs))
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    return LlamaCppChat


_CHAT_CLASS: type | None = None


def _estimate(text: str) -> int:
    """A deliberately high estimate for models whose tokenizer we cannot run (about 3 characters a token)."""
    return len(text) // 3 + 8


def build_chat_model(settings: Settings, provider: str | None = None) -> ChatModel:
    """The chat model for ``provider`` (default ``[llm] provider``); raises ModelError on misconfiguration."""
    global _CHAT_CLASS
    cfg = settings.llm
    provider = provider or cfg.provider
    if problem := provider_problem(settings, provider):
        raise ModelError(problem)
    if provider == "llamacpp":
        path = resolve_gguf(cfg, settings.base_dir)
        llama = _load_llama(str(path), cfg.n_ctx, cpu_threads(cfg.threads, "[llm] threads"))
        _CHAT_CLASS = _CHAT_CLASS or _llamacpp_chat_class()
        model = _CHAT_CLASS(client=llama, model_name=path.name, temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                            repeat_penalty=LLAMACPP_REPEAT_PENALTY)

        def count(text: str) -> int:
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

        return ChatModel(model, path.name, cfg.n_ctx, count, str(path))
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        # OpenAI itself takes max_completion_tokens (what langchain sends for max_tokens); llama-server, vLLM
        # and LM Studio honour the classic max_tokens field, so a custom endpoint gets that one.
        limit: dict[str, Any] = ({"extra_body": {"max_tokens": cfg.max_tokens}} if cfg.base_url
                                 else {"max_tokens": cfg.max_tokens})
        from pydantic import SecretStr

        model = ChatOpenAI(model=cfg.model, base_url=cfg.base_url or None, api_key=SecretStr(key or "not-needed"),
                           temperature=cfg.temperature, frequency_penalty=OPENAI_FREQUENCY_PENALTY,
                           timeout=cfg.timeout, max_retries=0, streaming=True, **limit)
        return ChatModel(model, cfg.model, cfg.context_window, _estimate, cfg.base_url or "api.openai.com")
    if provider == "ollama":
        from langchain_ollama import ChatOllama

        model = ChatOllama(model=cfg.model, base_url=cfg.base_url or "http://127.0.0.1:11434",
                           temperature=cfg.temperature, num_predict=cfg.max_tokens, num_ctx=cfg.context_window,
                           repeat_penalty=OLLAMA_REPEAT_PENALTY, client_kwargs={"timeout": cfg.timeout})
        return ChatModel(model, cfg.model, cfg.context_window, _estimate, cfg.base_url or "http://127.0.0.1:11434")
    raise ModelError(f"Unknown LLM provider {provider!r}")  # pragma: no cover - provider_problem said so


_MODELS: dict[tuple[Any, ...], ChatModel] = {}
_MODELS_LOCK = threading.Lock()


def get_chat_model(settings: Settings, provider: str | None = None) -> ChatModel:
    """Cached :func:`build_chat_model`."""
    key = (settings.llm, str(settings.base_dir), provider or settings.llm.provider)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = build_chat_model(settings, provider)
        return _MODELS[key]
