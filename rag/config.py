"""Settings: one frozen object built from config.toml, NEWSRAG_* overrides and defaults.

Precedence (last wins): the defaults below, the TOML file, then environment
variables named ``NEWSRAG_<SECTION>__<KEY>`` (for example
``NEWSRAG_STORE__MODE=http``). Unknown sections or keys and values of the
wrong type or range raise :class:`ConfigError` naming the key, at load time.

Nothing here touches the file system beyond reading the TOML file; directories
are created by the component that writes into them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from rag.errors import ConfigError

ENV_PREFIX = "NEWSRAG_"
CONFIG_ENV = "NEWSRAG_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"
MAX_TOP_K = 50  # passages in a context: [retrieve] top_k and a per-question override alike


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"Invalid setting {key}: {message}")


@dataclass(frozen=True)
class PathsSettings:
    articles_dir: Path = Path("data/articles")
    index_dir: Path = Path(".newsrag")


@dataclass(frozen=True)
class EmbedSettings:
    model: str = ""
    backend: str = "onnx"
    quantize: bool = True
    batch_size: int = 16
    max_tokens: int = 256
    threads: int = 0
    cache_dir: str = ""

    def __post_init__(self) -> None:
        _check(self.backend in ("onnx", "torch"), "[embed] backend", "must be onnx or torch")
        _check(self.batch_size > 0, "[embed] batch_size", "must be positive")
        _check(16 <= self.max_tokens <= 8192, "[embed] max_tokens", "must be between 16 and 8192")
        _check(self.threads >= 0, "[embed] threads", "must be 0 (automatic) or positive")


@dataclass(frozen=True)
class ChunkSettings:
    chunk_tokens: int = 200
    overlap_tokens: int = 16
    title_prefix: bool = False
    title_max_tokens: int = 24

    def __post_init__(self) -> None:
        _check(self.chunk_tokens >= 16, "[chunk] chunk_tokens", "must be at least 16")
        _check(self.overlap_tokens >= 0, "[chunk] overlap_tokens", "must not be negative")
        _check(
            self.overlap_tokens < self.chunk_tokens,
            "[chunk] overlap_tokens",
            "must be smaller than chunk_tokens",
        )
        _check(self.title_max_tokens >= 0, "[chunk] title_max_tokens", "must not be negative")


@dataclass(frozen=True)
class IngestSettings:
    max_file_mb: float = 20.0
    batch_chunks: int = 256

    def __post_init__(self) -> None:
        _check(self.max_file_mb > 0, "[ingest] max_file_mb", "must be positive")
        _check(self.batch_chunks > 0, "[ingest] batch_chunks", "must be positive")


@dataclass(frozen=True)
class RetrieveSettings:
    top_k: int = 5
    candidates: int = 50
    fusion: str = "convex"
    dense_weight: float = 0.8
    bm25_weight: float = 0.2
    rrf_k: int = 60
    max_per_article: int = 2
    duplicate_threshold: float = 0.6
    date_grace_days: int = 7
    recency_weight: float = 1.0
    recency_half_life_days: float = 14.0
    date_weight: float = 1.0
    date_half_life_days: float = 14.0
    recent_candidates: int = 20

    def __post_init__(self) -> None:
        _check(0 < self.top_k <= MAX_TOP_K, "[retrieve] top_k", f"must be between 1 and {MAX_TOP_K}")
        _check(self.candidates >= self.top_k, "[retrieve] candidates", "must be at least top_k")
        _check(self.fusion in ("rrf", "convex"), "[retrieve] fusion", "must be rrf or convex")
        _check(self.dense_weight >= 0 and self.bm25_weight >= 0, "[retrieve] dense_weight",
               "weights must not be negative")
        _check(self.dense_weight + self.bm25_weight > 0, "[retrieve] dense_weight", "one weight must be positive")
        _check(self.rrf_k >= 0, "[retrieve] rrf_k", "must not be negative")
        _check(self.max_per_article >= 1, "[retrieve] max_per_article", "must be at least 1")
        _check(0 < self.duplicate_threshold <= 1, "[retrieve] duplicate_threshold", "must be in (0, 1]")
        _check(self.date_grace_days >= 0, "[retrieve] date_grace_days", "must not be negative")
        _check(self.recency_weight >= 0, "[retrieve] recency_weight", "must not be negative")
        _check(self.recency_half_life_days >= 0, "[retrieve] recency_half_life_days", "must not be negative")
        _check(self.date_weight >= 0, "[retrieve] date_weight", "must not be negative")
        _check(self.date_half_life_days > 0, "[retrieve] date_half_life_days", "must be positive")
        _check(self.recent_candidates >= 0, "[retrieve] recent_candidates", "must not be negative")


@dataclass(frozen=True)
class AnswerSettings:
    min_relevance: float = 0.3
    support_similarity: float = 0.6
    support_overlap: float = 0.7
    max_sentences: int = 3
    redundancy: float = 0.85

    def __post_init__(self) -> None:
        for key in ("min_relevance", "support_similarity", "support_overlap", "redundancy"):
            _check(0 <= getattr(self, key) <= 1, f"[answer] {key}", "must be between 0 and 1")
        _check(1 <= self.max_sentences <= 10, "[answer] max_sentences", "must be between 1 and 10")


LLM_PROVIDERS = ("extractive", "llamacpp", "openai", "ollama")


@dataclass(frozen=True)
class LLMSettings:
    provider: str = "extractive"
    model_path: str = ""
    hf_repo: str = ""
    hf_file: str = ""
    hf_cache_dir: str = ""
    n_ctx: int = 4096
    threads: int = 0
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    context_window: int = 8192
    temperature: float = 0.1
    max_tokens: int = 384
    timeout: float = 60.0
    rewrite_followups: bool = True

    def __post_init__(self) -> None:
        _check(self.provider in LLM_PROVIDERS, "[llm] provider", f"must be one of {', '.join(LLM_PROVIDERS)}")
        _check(self.n_ctx >= 512, "[llm] n_ctx", "must be at least 512")
        _check(self.context_window >= 512, "[llm] context_window", "must be at least 512")
        _check(self.threads >= 0, "[llm] threads", "must be 0 (automatic) or positive")
        _check(0 <= self.temperature <= 2, "[llm] temperature", "must be between 0 and 2")
        _check(16 <= self.max_tokens < min(self.n_ctx, self.context_window), "[llm] max_tokens",
               "must be at least 16 and below the context window")
        _check(self.timeout > 0, "[llm] timeout", "must be positive")


STORE_MODES = ("embedded", "http")


@dataclass(frozen=True)
class StoreSettings:
    mode: str = "embedded"
    collection: str = "news"
    host: str = "127.0.0.1"
    port: int = 8000
    ssl: bool = False
    headers_env: str = "NEWSRAG_CHROMA_HEADERS"

    def __post_init__(self) -> None:
        _check(self.mode in STORE_MODES, "[store] mode", f"must be one of {', '.join(STORE_MODES)}")
        _check(
            re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{1,58}[A-Za-z0-9]", self.collection) is not None,
            "[store] collection",
            "must be 3-60 letters, digits, '-' or '_'",
        )
        _check(0 < self.port < 65536, "[store] port", "must be a TCP port (1-65535)")


@dataclass(frozen=True)
class UISettings:
    host: str = "127.0.0.1"
    port: int = 7860
    auth_user: str = ""
    auth_password_env: str = "NEWSRAG_UI_PASSWORD"
    max_upload_mb: float = 20.0
    max_upload_files: int = 50

    def __post_init__(self) -> None:
        _check(0 <= self.port < 65536, "[ui] port", "must be a TCP port (0 picks a free one)")
        _check(self.max_upload_mb > 0, "[ui] max_upload_mb", "must be positive")
        _check(self.max_upload_files > 0, "[ui] max_upload_files", "must be positive")


@dataclass(frozen=True)
class WebSettings:
    timeout: float = 15.0
    max_page_mb: float = 5.0
    max_feed_items: int = 50
    user_agent: str = "newsrag/0.1 (personal news question answering; fetches pages its user asked for)"

    def __post_init__(self) -> None:
        _check(self.timeout > 0, "[web] timeout", "must be positive")
        _check(self.max_page_mb > 0, "[web] max_page_mb", "must be positive")
        _check(self.max_feed_items > 0, "[web] max_feed_items", "must be positive")
        _check(bool(self.user_agent.strip()), "[web] user_agent", "must not be empty")


@dataclass(frozen=True)
class Settings:
    """Every setting of newsrag. Build it with :func:`load_settings`."""

    paths: PathsSettings = field(default_factory=PathsSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    retrieve: RetrieveSettings = field(default_factory=RetrieveSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    ui: UISettings = field(default_factory=UISettings)
    web: WebSettings = field(default_factory=WebSettings)
    #: directory relative paths are resolved against (the config file's folder)
    base_dir: Path = field(default_factory=Path.cwd, compare=False)
    source: str = field(default="defaults", compare=False)

    def __post_init__(self) -> None:
        chunk, embed = self.chunk, self.embed
        budget = chunk.chunk_tokens + (chunk.title_max_tokens if chunk.title_prefix else 0) + 2
        _check(
            budget <= embed.max_tokens,
            "[chunk] chunk_tokens",
            f"chunk_tokens + title_max_tokens + 2 special tokens = {budget} exceeds "
            f"the embedding model's limit [embed] max_tokens = {embed.max_tokens}",
        )

    def resolve(self, path: Path) -> Path:
        """Resolve a configured path against the config file's directory."""
        path = path.expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def articles_dir(self) -> Path:
        return self.resolve(self.paths.articles_dir)

    @property
    def index_dir(self) -> Path:
        return self.resolve(self.paths.index_dir)

    def replace(self, **sections: Any) -> Settings:
        """A copy with whole sections or section keys replaced: ``replace(chunk={"chunk_tokens": 120})``."""
        changes: dict[str, Any] = {}
        for name, value in sections.items():
            if isinstance(value, Mapping):
                current = getattr(self, name)
                changes[name] = _build_section(name, type(current), value, base=current)
            else:
                changes[name] = value
        return dataclasses.replace(self, **changes)


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
    if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory)
}


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Convert a TOML or environment value to the field's type, or raise ConfigError."""
    from_env = isinstance(value, str) and kind is not str
    if kind is bool:
        if isinstance(value, bool):
            return value
        if from_env and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if from_env and value.strip().lower() in ("0", "false", "no", "off"):
            return False
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env:
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_env:
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is Path:
        if isinstance(value, str) and value.strip():
            return Path(value)
    elif typing.get_origin(kind) is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    name = getattr(kind, "__name__", str(kind))
    raise ConfigError(f"Invalid setting {key}: expected {name}, got {value!r}")


def _build_section(section: str, cls: type, values: Mapping[str, Any], base: Any = None) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"Unknown setting [{section}] {key}: known keys are {', '.join(sorted(known))}"
            )
        kwargs[key] = _coerce(f"[{section}] {key}", value, hints[key])
    if base is not None:
        return dataclasses.replace(base, **kwargs)
    return cls(**kwargs)


def find_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to use: ``path``, else $NEWSRAG_CONFIG, else ./config.toml if present."""
    env = os.environ if env is None else env
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.is_file() else None


def env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Group NEWSRAG_<SECTION>__<KEY> variables by section (lower-cased)."""
    out: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].partition("__")
        out.setdefault(section.lower(), {})[key.lower()] = value
    return out


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate settings; raise ConfigError naming the offending key."""
    env = os.environ if env is None else env
    config_path = find_config(path, env)
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    source = "defaults"
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"Config file not found: {config_path}")
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {config_path} is not valid TOML: {exc}") from exc
        base_dir = config_path.resolve().parent
        source = str(config_path)
    for section, values in env_overrides(env).items():
        if section not in SECTIONS:
            raise ConfigError(
                f"Unknown settings section {section!r} in environment variable "
                f"{ENV_PREFIX}{section.upper()}__...: known sections are {', '.join(SECTIONS)}"
            )
        data.setdefault(section, {}).update(values)
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"Unknown settings section [{section}]: known sections are {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"Settings section [{section}] must be a table")
        sections[section] = _build_section(section, SECTIONS[section], values)
    return Settings(**sections, base_dir=base_dir, source=source)


def documented_keys() -> list[str]:
    """Every ``section.key``: used by the test that checks config.toml and the README list them all."""
    return [f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
