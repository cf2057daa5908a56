"""The settings tables: one frozen pydantic model per section of config.toml, each key with its type,
its default and its bounds (every number has a lower and an upper one), and the rules between keys.

Strict: a string is not a number, a number is not a boolean, an integer is a fine float; no inf or nan;
no unknown keys. :mod:`rag.config` reads the file and the environment into them and turns their
errors into messages; import the tables from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

# Upper bounds, each well above any sensible value and below the one that breaks something.
MAX_TOP_K = 50  # passages in a context: [retrieve] top_k and a per-question override alike
MAX_THREADS = 256  # CPU threads for a model (ONNX Runtime, llama.cpp); 100,000 hung; see also cpu_threads
MAX_MODEL_TOKENS = 8192  # [embed] max_tokens for any model; the model's own limit is checked when it loads
MAX_FILE_MB = 4096.0  # a file is read whole into memory: 4 GB is far above any article or corpus file
MAX_CONTEXT = 1_048_576  # context windows in tokens (2^20, the largest served today)
MAX_DAYS = 3650.0  # half-lives and grace periods: ten years
MAX_TIMEOUT = 3600.0  # seconds: an hour

LLMProvider = Literal["extractive", "llamacpp", "openai", "ollama"]
StoreMode = Literal["embedded", "http"]
LLM_PROVIDERS: tuple[str, ...] = get_args(LLMProvider)
STORE_MODES: tuple[str, ...] = get_args(StoreMode)
OUTLETS_RULE = 'a table of names or domains to outlet names, like { "cnn wire" = "CNN" } (JSON from the environment)'
RULE_ERROR = "newsrag_setting"  # the pydantic error type of a rule between two settings


def rule_error(section: str, key: str, value: Any, rule: str) -> PydanticCustomError:
    """A problem between settings, raised from a validator, carrying the key it is reported under."""
    return PydanticCustomError(RULE_ERROR, "{rule}", {"section": section, "key": key, "value": value, "rule": rule})


class Section(BaseModel):
    """A settings table: frozen, strict (no "5" for 5), no unknown keys, no inf or nan."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class PathsSettings(Section):
    articles_dir: Path = Field(Path("data/articles"), strict=False, description="a non-blank path")
    index_dir: Path = Field(Path(".newsrag"), strict=False, description="a non-blank path")

    @field_validator("articles_dir", "index_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("empty path")  # Path("") would quietly be the config file's folder
        return value


class EmbedSettings(Section):
    model: str = ""
    backend: Literal["onnx", "torch"] = "onnx"
    quantize: bool = True
    batch_size: int = Field(16, ge=1, le=1024)
    max_tokens: int = Field(256, ge=32, le=MAX_MODEL_TOKENS, description="and at most the model's own limit")
    threads: int = Field(0, ge=0, le=MAX_THREADS, description="0 = automatic")
    cache_dir: str = ""


class ChunkSettings(Section):
    chunk_tokens: int = Field(200, ge=16, le=MAX_MODEL_TOKENS - 2)  # [CLS] and [SEP] fit beside it
    overlap_tokens: int = Field(16, ge=0, le=MAX_MODEL_TOKENS // 2, description="and below chunk_tokens")
    title_prefix: bool = False
    title_max_tokens: int = Field(24, ge=0, le=512)

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> ChunkSettings:
        if self.overlap_tokens >= self.chunk_tokens:
            raise rule_error("chunk", "overlap_tokens", self.overlap_tokens,
                             f"must be smaller than chunk_tokens ({self.chunk_tokens})")
        return self


class IngestSettings(Section):
    max_file_mb: float = Field(20.0, gt=0, le=MAX_FILE_MB)
    batch_chunks: int = Field(256, ge=1, le=65536)
    outlets: dict[str, str] = Field(default_factory=dict, description=OUTLETS_RULE)

    @field_validator("outlets", mode="before")
    @classmethod
    def _outlet_table(cls, value: Any) -> Any:
        """A table of non-blank names (or domains) to non-blank outlet names (the environment's JSON is decoded
        by rag.config; a string that was not JSON arrives here as it is, and is refused)."""
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in value.items()):
            raise ValueError(OUTLETS_RULE)
        return value

    def __hash__(self) -> int:  # the outlets table is a dict: hash its items (settings sections key caches)
        return hash((self.max_file_mb, self.batch_chunks, tuple(sorted(self.outlets.items()))))


class StoriesSettings(Section):
    enabled: bool = True
    threshold: float = Field(0.65, gt=0, le=3, description="a score: cosine + weighted name and title overlaps")
    window_days: int = Field(7, ge=0, le=366)


class RetrieveSettings(Section):
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    candidates: int = Field(50, ge=1, le=1000, description="and at least top_k")
    fusion: Literal["rrf", "convex"] = "convex"
    dense_weight: float = Field(0.8, ge=0, le=1)
    bm25_weight: float = Field(0.2, ge=0, le=1)
    rrf_k: int = Field(60, ge=0, le=1000)
    max_per_article: int = Field(2, ge=1, le=MAX_TOP_K)
    duplicate_threshold: float = Field(0.6, gt=0, le=1)
    date_grace_days: int = Field(7, ge=0, le=366)
    recency_weight: float = Field(1.0, ge=0, le=10)
    recency_half_life_days: float = Field(14.0, ge=0, le=MAX_DAYS, description="0 = no recency prior")
    date_weight: float = Field(1.0, ge=0, le=10)
    date_half_life_days: float = Field(14.0, gt=0, le=MAX_DAYS)
    recent_candidates: int = Field(20, ge=0, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> RetrieveSettings:
        if self.candidates < self.top_k:
            raise rule_error("retrieve", "candidates", self.candidates, f"must be at least top_k ({self.top_k})")
        if self.dense_weight + self.bm25_weight <= 0:
            raise rule_error("retrieve", "dense_weight", self.dense_weight,
                             "dense_weight or bm25_weight must be above 0")
        return self


class AnswerSettings(Section):
    min_relevance: float = Field(0.3, ge=0, le=1)
    support_similarity: float = Field(0.6, ge=0, le=1)
    support_overlap: float = Field(0.7, ge=0, le=1)
    max_sentences: int = Field(3, ge=1, le=10)
    redundancy: float = Field(0.85, ge=0, le=1)


class LLMSettings(Section):
    provider: LLMProvider = "extractive"
    model_path: str = ""
    hf_repo: str = ""
    hf_file: str = ""
    hf_cache_dir: str = ""
    n_ctx: int = Field(4096, ge=512, le=MAX_CONTEXT)
    threads: int = Field(0, ge=0, le=MAX_THREADS, description="0 = automatic")
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    context_window: int = Field(8192, ge=512, le=MAX_CONTEXT)
    temperature: float = Field(0.1, ge=0, le=2)
    max_tokens: int = Field(384, ge=16, le=MAX_CONTEXT - 1, description="and below n_ctx and context_window")
    timeout: float = Field(60.0, gt=0, le=MAX_TIMEOUT)
    rewrite_followups: bool = True

    @model_validator(mode="after")
    def _answer_fits_the_context(self) -> LLMSettings:
        window = min(self.n_ctx, self.context_window)
        if self.max_tokens >= window:
            raise rule_error("llm", "max_tokens", self.max_tokens,
                             f"must be below the context window (n_ctx {self.n_ctx}, context_window {self.context_window})")
        return self


class StoreSettings(Section):
    mode: StoreMode = "embedded"
    collection: str = Field("news", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,58}[A-Za-z0-9]$",
                            description="3-60 letters, digits, '-' or '_', starting and ending with a letter or digit")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535, description="a TCP port")
    ssl: bool = False
    headers_env: str = "NEWSRAG_CHROMA_HEADERS"


class UISettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=0, le=65535, description="a TCP port; 0 picks a free one")
    auth_user: str = ""
    auth_password_env: str = "NEWSRAG_UI_PASSWORD"
    api: bool = True
    api_key_env: str = "NEWSRAG_API_KEY"
    max_upload_mb: float = Field(20.0, gt=0, le=MAX_FILE_MB)
    max_upload_files: int = Field(50, ge=1, le=10000)


FEED_URLS_RULE = 'a list of http(s) feed URLs, like ["https://example.com/feed.xml"] (JSON from the environment)'


class FeedsSettings(Section):
    urls: tuple[str, ...] = Field((), description=FEED_URLS_RULE)
    interval_minutes: float = Field(60.0, ge=1, le=10080, description="one minute to a week")
    fetch_full_text: bool = True

    @field_validator("urls", mode="before")
    @classmethod
    def _feed_urls(cls, value: Any) -> Any:
        """A list (a TOML array, or JSON from the environment) of distinct http(s) URLs, kept in their order."""
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(u, str) and u.strip().lower().startswith(("http://", "https://")) for u in value):
            raise ValueError(FEED_URLS_RULE)
        return tuple(dict.fromkeys(u.strip() for u in value))


class ChatsSettings(Section):
    path: str = Field("", description='"" = chats/chats.sqlite3 in the index folder')


class WebSettings(Section):
    timeout: float = Field(15.0, gt=0, le=600)
    max_page_mb: float = Field(5.0, gt=0, le=1024)
    max_feed_items: int = Field(50, ge=1, le=10000)
    user_agent: str = Field("newsrag/0.1 (personal news question answering; fetches pages its user asked for)",
                            pattern=r"\S", description="a non-blank string")
