"""Settings: one frozen object built from config.toml, NEWSRAG_* overrides and defaults.

Precedence (last wins): the defaults, the TOML file, then environment variables
named ``NEWSRAG_<SECTION>__<KEY>`` (for example ``NEWSRAG_STORE__MODE=http``).
Each section is a frozen pydantic model whose fields carry their type and bounds
(:mod:`rag.sections`); :class:`Settings` is a ``pydantic-settings`` ``BaseSettings``
that reads the file and the environment with that library's own sources.
Validation is strict for the file (a TOML string ``"5"`` is not a number; an
integer is a fine float) and converts environment strings, which are text by
nature. Every problem (unknown section or key, wrong type, value out of range, two
settings that disagree) becomes one line of a :class:`ConfigError` naming the key,
the value given and what is allowed; pydantic's own report never reaches the user.

Nothing here touches the file system beyond reading the TOML file; directories
are created by the component that writes into them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import tomllib
from pydantic import Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from rag.errors import ConfigError
from rag.sections import (
    LLM_PROVIDERS,
    MAX_FILE_MB,
    MAX_THREADS,
    MAX_TOP_K,
    RULE_ERROR,
    STORE_MODES,
    AnswerSettings,
    ChatsSettings,
    ChunkSettings,
    EmbedSettings,
    FeedsSettings,
    IngestSettings,
    LLMSettings,
    PathsSettings,
    RetrieveSettings,
    Section,
    StoreSettings,
    StoriesSettings,
    UISettings,
    WebSettings,
    rule_error,
)

__all__ = [  # the settings' one door: the tables of rag.sections are imported from here
    "LLM_PROVIDERS", "MAX_FILE_MB", "MAX_THREADS", "MAX_TOP_K", "STORE_MODES", "SECTIONS", "AnswerSettings", "ChatsSettings",
    "ChunkSettings", "EmbedSettings", "FeedsSettings", "IngestSettings", "LLMSettings", "PathsSettings", "RetrieveSettings",
    "Settings",
    "StoreSettings", "StoriesSettings", "UISettings", "WebSettings", "allowed", "cpu_threads", "documented_keys", "find_config",
    "load_settings",
]

log = logging.getLogger(__name__)

ENV_PREFIX = "NEWSRAG_"
ENV_DELIMITER = "__"
CONFIG_ENV = "NEWSRAG_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"

# load_settings names the file and the environment the sources of the next Settings() read; a Settings
# built in code (tests, replace) reads neither: its defaults and what it is given.
_SOURCES: ContextVar[tuple[Path | None, Mapping[str, str]] | None] = ContextVar("newsrag_settings_sources",
                                                                                default=None)


class Settings(BaseSettings):
    """Every setting of newsrag. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, case_sensitive=False,
        frozen=True, extra="forbid", strict=True, allow_inf_nan=False,
    )

    paths: PathsSettings = PathsSettings()
    embed: EmbedSettings = EmbedSettings()
    chunk: ChunkSettings = ChunkSettings()
    ingest: IngestSettings = IngestSettings()
    stories: StoriesSettings = StoriesSettings()
    store: StoreSettings = StoreSettings()
    retrieve: RetrieveSettings = RetrieveSettings()
    answer: AnswerSettings = AnswerSettings()
    llm: LLMSettings = LLMSettings()
    ui: UISettings = UISettings()
    web: WebSettings = WebSettings()
    feeds: FeedsSettings = FeedsSettings()
    chats: ChatsSettings = ChatsSettings()
    #: directory relative paths are resolved against (the config file's folder); never read from the file or env
    base_dir: Path = Field(default_factory=Path.cwd, strict=False)
    source: str = "defaults"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """First wins: what the code passes, then the environment, then the TOML file (then the defaults)."""
        request = _SOURCES.get()
        if request is None:
            return (init_settings,)
        path, env = request
        file = (_TomlSource(settings_cls, path),) if path is not None else ()
        return (init_settings, _EnvSource(settings_cls, env), *file)

    @model_validator(mode="after")
    def _chunks_fit_the_model(self) -> Settings:
        chunk, embed = self.chunk, self.embed
        budget = chunk.chunk_tokens + (chunk.title_max_tokens if chunk.title_prefix else 0) + 2
        if budget > embed.max_tokens:
            raise rule_error("chunk", "chunk_tokens", chunk.chunk_tokens,
                             f"chunk_tokens + title_max_tokens + 2 special tokens = {budget} exceeds "
                             f"the embedding model's limit [embed] max_tokens = {embed.max_tokens}")
        return self

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

    @property
    def chats_path(self) -> Path:
        """The saved-chats database: [chats] path, else chats/chats.sqlite3 in the index folder. A folder of its
        own: SQLite's -wal and -shm files come and go there, so the index folder itself is not touched and an
        unchanged ``newsrag ingest`` keeps its quick path (ingest/lastrun.py stats the index folder)."""
        given = self.chats.path.strip()
        return self.resolve(Path(given)) if given else self.index_dir / "chats" / "chats.sqlite3"

    def replace(self, **sections: Any) -> Settings:
        """A validated copy with whole sections or section keys replaced: ``replace(chunk={"chunk_tokens": 120})``.
        Raises :class:`ConfigError` like :func:`load_settings`."""
        values: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        for name, value in sections.items():
            if name in SECTIONS and isinstance(value, Mapping):
                value = {**getattr(self, name).model_dump(), **value}
            values[name] = value
        with _reported({}):
            return Settings(**values)


SECTIONS: dict[str, type[Section]] = {
    name: field.annotation
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Section)
}


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ`` by default). Only the
    sections are read, and a ``NEWSRAG_<NAME>__<KEY>`` naming no section is passed on so that validation
    reports it, rather than ignored."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._given.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """A table key's JSON (``NEWSRAG_INGEST__OUTLETS='{"cnn wire": "CNN"}'``); text that is not JSON is passed
        on as it is, so that validation reports it under its key."""
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            if field_name in SECTIONS:
                raise
            return value

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name not in SECTIONS:
            return None, field_name, False
        return super().get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        prefix = ENV_PREFIX.lower()
        try:
            data = super().__call__()
        except SettingsError:  # NEWSRAG_<SECTION> (no key) is read as a JSON table of that section's keys
            tables = [name.upper() for name in self.env_vars if name.removeprefix(prefix) in SECTIONS]
            raise ConfigError(f"Environment variable {' or '.join(tables) or ENV_PREFIX + '<SECTION>'} must hold a "
                              f"JSON table of settings, like {{\"threads\": 2}}; set one key with "
                              f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>") from None
        for name, value in self.env_vars.items():
            section, delimiter, key = name[len(prefix):].partition(ENV_DELIMITER)
            if name.startswith(prefix) and delimiter and section not in SECTIONS:
                data.setdefault(section, {})[key] = value
        return data


class _TomlSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source, with a decoding error or a key outside any table said plainly."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {file_path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"Config file {file_path} cannot be read: {exc.strerror or exc}") from exc
        for name, value in data.items():
            if not isinstance(value, dict):
                raise ConfigError(f"Setting {name} = {_shown(value)} in {file_path} is outside any section: "
                                  f"put it under its [section] (sections: {', '.join(SECTIONS)})")
            if name not in SECTIONS and name in Settings.model_fields:
                raise ConfigError(f"Unknown settings section [{name}] in {file_path}: "
                                  f"known sections are {', '.join(SECTIONS)}")
        return data


# -- messages -------------------------------------------------------------------------------------

_KINDS: dict[Any, str] = {int: "int", float: "float (a number)", bool: "true or false", str: "a string",
                          Path: "a path (a string)"}


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _shown(value: Any) -> str:
    """A value as it would be written in config.toml, on one line (control characters escaped), at most 80 characters."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = '"' + "".join(_ESCAPES.get(c) or (c if c.isprintable() else f"\\u{ord(c):04x}") for c in value) + '"'
    elif isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _quoted_number(value: Any) -> bool:
    """Whether ``value`` is a number written as a string: "5" in TOML where 5 was meant."""
    try:
        return isinstance(value, str) and math.isfinite(float(value))
    except ValueError:
        return False


def allowed(field: FieldInfo) -> str:
    """What a setting accepts, from its type, bounds and note: ``between 0 and 256 (0 = automatic)``."""
    bounds = {name: getattr(item, name) for item in field.metadata for name in ("ge", "gt", "le")
              if isinstance(item, getattr(annotated_types, name.capitalize()))}
    shown = {name: f"{value:g}" if isinstance(value, float) else str(value) for name, value in bounds.items()}
    if get_origin(field.annotation) is Literal:
        text = "one of " + ", ".join(get_args(field.annotation))
    elif "ge" in shown and "le" in shown:
        text = f"between {shown['ge']} and {shown['le']}"
    elif "gt" in shown and "le" in shown:
        text = f"above {shown['gt']} and at most {shown['le']}"
    else:
        return field.description or ""
    return f"{text} ({field.description})" if field.description else text


def _describe(error: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """One line for one pydantic error: the key, the value given and what is allowed."""
    ctx = error.get("ctx") or {}
    if error["type"] == RULE_ERROR:  # a rule between two settings, raised with the key it is about
        section, key, value = ctx["section"], ctx["key"], ctx["value"]
    else:
        section, key, *_ = [*map(str, error["loc"]), "", ""]
        value = error.get("input")
    variable = next((name for name in env if name.upper().startswith(f"{ENV_PREFIX}{section}{ENV_DELIMITER}".upper())
                     and (not key or name.upper().endswith(f"{ENV_DELIMITER}{key}".upper()))), None)
    origin = f" (from {variable})" if variable else ""
    if section not in SECTIONS:
        if variable:
            return (f"Unknown settings section {section!r} in environment variable {ENV_PREFIX}{section.upper()}"
                    f"{ENV_DELIMITER}...: known sections are {', '.join(SECTIONS)}")
        return f"Unknown settings section [{section}]: known sections are {', '.join(SECTIONS)}"
    fields = SECTIONS[section].model_fields
    if not key:
        return f"Settings section [{section}]{origin} must be a table of keys, got {_shown(value)}"
    if key not in fields:
        return f"Unknown setting [{section}] {key}{origin}: known keys are {', '.join(sorted(fields))}"
    head, field = f"Invalid setting [{section}] {key} = {_shown(value)}{origin}", fields[key]
    rule = ctx["rule"] if error["type"] == RULE_ERROR else allowed(field)
    if error["type"].endswith(("_type", "_parsing", "_from_float")):  # int_type, bool_parsing, ...: the wrong kind
        numeric = field.annotation in (int, float)
        hint = " (write the number without quotes)" if numeric and not variable and _quoted_number(value) else ""
        return f"{head}: expected {_KINDS.get(field.annotation, 'a string')}{' ' + rule if numeric else ''}{hint}"
    if error["type"] == "finite_number":
        return f"{head}: must be a finite number {rule}"
    return f"{head}: {rule}" if error["type"] == RULE_ERROR else f"{head}: must be {rule}"


@contextmanager
def _reported(env: Mapping[str, str]) -> Iterator[None]:
    """Turn pydantic's ValidationError into a ConfigError of one line per problem."""
    try:
        yield
    except ValidationError as exc:
        lines = dict.fromkeys(_describe(e, env) for e in exc.errors(include_url=False))
        raise ConfigError("\n".join(lines)) from None


def cpu_threads(setting: int, key: str) -> int:
    """The threads a model runs on for a ``threads`` setting: 0 stays 0 (automatic), and more than this
    machine's cores is cut to its cores, with a warning: extra threads only wait on each other
    (the embedder on 2 cores ran 10x slower with 16 threads, 30x with 64)."""
    cores = os.cpu_count() or 1
    if setting > cores:
        log.warning("%s = %d is more than this machine's %d cores: using %d", key, setting, cores, cores)
        return cores
    return setting


# -- loading --------------------------------------------------------------------------------------


def find_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to use: ``path``, else $NEWSRAG_CONFIG, else ./config.toml if present."""
    env = os.environ if env is None else env
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate settings: the defaults, the TOML file over them, ``env`` (default ``os.environ``)
    over both. Raise ConfigError naming each offending key, its value and what is allowed."""
    env = os.environ if env is None else env
    config_path = find_config(path, env)
    base_dir, source = Path.cwd(), "defaults"
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"Config file not found: {config_path}")
        base_dir, source = config_path.resolve().parent, str(config_path)
    token = _SOURCES.set((config_path, env))
    try:
        with _reported(env):
            return Settings(base_dir=base_dir, source=source)
    finally:
        _SOURCES.reset(token)


def documented_keys() -> list[str]:
    """Every ``section.key``: used by the test that checks config.toml and the README list them all."""
    return [f"{name}.{key}" for name, cls in SECTIONS.items() for key in cls.model_fields]
