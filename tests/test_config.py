"""Settings: defaults, TOML, environment overrides, and errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from rag.config import documented_keys, load_settings
from rag.errors import ConfigError

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_matches_the_defaults_and_lists_every_key():
    shipped = tomllib.loads((ROOT / "config.toml").read_text())
    keys = [f"{section}.{key}" for section, table in shipped.items() for key in table]
    assert sorted(keys) == sorted(documented_keys())
    defaults = load_settings(env={})  # no file: the dataclass defaults
    from_file = load_settings(ROOT / "config.toml", env={})
    for dotted in keys:
        section, key = dotted.split(".")
        assert getattr(getattr(from_file, section), key) == getattr(getattr(defaults, section), key), dotted


def test_every_config_line_has_a_comment():
    for line in (ROOT / "config.toml").read_text().splitlines():
        if re.match(r"^\w+\s*=", line):
            assert "#" in line.split("=", 1)[1], f"no comment on: {line}"


def test_every_key_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for dotted in documented_keys():
        section, key = dotted.split(".")
        assert f"`{key}`" in readme and f"[{section}]" in readme, f"README does not document {dotted}"


def test_unknown_key_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"\[chunk\] chunk_size"):
        load_settings(write(tmp_path, "[chunk]\nchunk_size = 100\n"), env={})


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"\[chunking\]"):
        load_settings(write(tmp_path, "[chunking]\nx = 1\n"), env={})


def test_wrong_type_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"\[embed\] batch_size.*expected int"):
        load_settings(write(tmp_path, '[embed]\nbatch_size = "many"\n'), env={})


def test_invalid_value_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"\[chunk\] overlap_tokens"):
        load_settings(write(tmp_path, "[chunk]\nchunk_tokens = 50\noverlap_tokens = 60\n"), env={})
    with pytest.raises(ConfigError, match=r"\[store\] mode"):
        load_settings(write(tmp_path, '[store]\nmode = "cloud"\n'), env={})


def test_chunks_must_fit_the_model(tmp_path):
    with pytest.raises(ConfigError, match="exceeds"):
        load_settings(write(tmp_path, "[chunk]\nchunk_tokens = 250\ntitle_prefix = true\n"), env={})


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "[ui]\nport = 9000\n")
    settings = load_settings(path, env={"NEWSRAG_UI__PORT": "9100", "NEWSRAG_STORE__SSL": "true"})
    assert settings.ui.port == 9100
    assert settings.store.ssl is True


def test_environment_errors_name_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"\[ui\] port"):
        load_settings(write(tmp_path, ""), env={"NEWSRAG_UI__PORT": "eighty"})
    with pytest.raises(ConfigError, match="NEWSRAG_NOPE__"):
        load_settings(write(tmp_path, ""), env={"NEWSRAG_NOPE__X": "1"})
    with pytest.raises(ConfigError, match=r"\[ui\] colour"):
        load_settings(write(tmp_path, ""), env={"NEWSRAG_UI__COLOUR": "red"})


def test_config_env_and_relative_paths(tmp_path):
    path = write(tmp_path, '[paths]\narticles_dir = "news"\n')
    settings = load_settings(env={"NEWSRAG_CONFIG": str(path)})
    assert settings.articles_dir == (tmp_path / "news").resolve()


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[ui\nport=1"), env={})


def test_cli_exits_2_naming_the_key(tmp_path, capsys):
    from rag.cli import main

    code = main(["--config", str(write(tmp_path, "[store]\nport = 0\n")), "stats"])
    assert code == 2
    assert "[store] port" in capsys.readouterr().err
