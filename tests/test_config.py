"""Settings: defaults, TOML, environment overrides, and errors that name the key."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path

import pytest
import tomllib
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

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


# -- issue 15 item 10: settings that accepted nonsense ------------------------------------------------


def test_a_hundred_thousand_threads_are_refused_with_the_range(tmp_path):
    """``threads = 100000`` was accepted and hung the process starting ONNX Runtime's threads."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "[embed]\nthreads = 100000\n"), env={})
    assert str(caught.value) == "Invalid setting [embed] threads = 100000: must be between 0 and 256 (0 = automatic)"


def test_an_infinite_file_size_is_refused(tmp_path):
    """``max_file_mb = inf`` was accepted, then every ingest raised OverflowError."""
    with pytest.raises(ConfigError, match=r"^Invalid setting \[ingest\] max_file_mb = inf: must be a finite number"):
        load_settings(write(tmp_path, "[ingest]\nmax_file_mb = inf\n"), env={})
    for value in ("nan", "-inf"):
        with pytest.raises(ConfigError, match=rf"\[retrieve\] recency_weight = {value}"):
            load_settings(write(tmp_path, f"[retrieve]\nrecency_weight = {value}\n"), env={})


def test_a_quoted_number_is_not_a_number(tmp_path):
    """The TOML string "5" was accepted where a number is meant."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, '[retrieve]\ntop_k = "5"\n'), env={})
    assert str(caught.value) == ('Invalid setting [retrieve] top_k = "5": expected int between 1 and 50 '
                                 "(write the number without quotes)")
    for text in ('[ingest]\nmax_file_mb = "20"\n', '[store]\nssl = "true"\n', "[store]\nssl = 1\n",
                 "[ui]\nport = 80.0\n", '[paths]\nindex_dir = 5\n', "[embed]\nmodel = 1\n"):
        with pytest.raises(ConfigError, match="expected"):
            load_settings(write(tmp_path, text), env={})
    an_int = load_settings(write(tmp_path, "[ingest]\nmax_file_mb = 5\n"), env={})
    assert an_int.ingest.max_file_mb == 5.0  # an integer is a fine float


def test_embed_max_tokens_above_the_model_limit_is_a_config_error_not_an_onnx_crash(tmp_path, capsys):
    """``max_tokens = 1000`` was accepted, then ONNX Runtime failed on the first text over 512 tokens."""
    from rag.cli import main
    from rag.config import EmbedSettings
    from rag.embed import get_embedder, model_path

    path = write(tmp_path, '[paths]\nindex_dir = "index"\n[embed]\nmax_tokens = 1000\n')
    settings = load_settings(path, env={})  # within [32, 8192]: only the model knows its own limit
    with pytest.raises(ConfigError, match=r"^Invalid setting \[embed\] max_tokens = 1000: must be at most 512, "
                                          r"the input limit of the embedding model all-MiniLM-L6-v2"):
        get_embedder(settings.embed)
    with pytest.raises(ConfigError, match="at most 512"):
        get_embedder(EmbedSettings(max_tokens=1000, backend="torch"))
    assert model_path(EmbedSettings(max_tokens=512)).is_dir()  # the limit itself is fine
    assert main(["--config", str(path), "stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("newsrag: Invalid setting [embed] max_tokens = 1000") and "Traceback" not in err
    assert not (tmp_path / "index").exists()  # refused before the index is opened


def test_token_limit_reads_the_model_files(tmp_path):
    from rag.embed import token_limit

    assert token_limit(tmp_path) is None  # a folder that does not say: no check
    (tmp_path / "config.json").write_text('{"max_position_embeddings": 514}')
    assert token_limit(tmp_path) == 514
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 512}')  # RoBERTa keeps two positions back
    assert token_limit(tmp_path) == 512
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 1000000000000000019884624838656}')
    assert token_limit(tmp_path) == 514  # transformers' "no limit" is no limit


def test_threads_beyond_the_cores_run_on_the_cores(monkeypatch, caplog):
    """256 threads on 2 cores made one batch take minutes; they are cut to the cores, with a warning."""
    import onnxruntime as ort

    from rag.config import MAX_THREADS, EmbedSettings
    from rag.embed import OnnxEmbedder

    seen = []

    class Session:
        def __init__(self, path, options, providers):
            seen.append(options.intra_op_num_threads)

    monkeypatch.setattr(ort, "InferenceSession", Session)
    cores = os.cpu_count() or 1
    OnnxEmbedder(EmbedSettings(threads=MAX_THREADS), onnx_file=Path("unused.onnx"))._load()
    OnnxEmbedder(EmbedSettings(threads=1), onnx_file=Path("unused.onnx"))._load()
    assert seen == [min(MAX_THREADS, cores), 1]
    if cores < MAX_THREADS:
        assert f"[embed] threads = {MAX_THREADS} is more than this machine's {cores} cores" in caplog.text


def test_every_problem_is_one_line_naming_key_value_and_range(tmp_path, capsys):
    from rag.cli import main

    text = ("[embed]\nthreads = 100000\nbatch_size = 0\n[chunk]\nchunk_size = 3\n[ui]\nport = -1\n"
            "[store]\ncollection = \"a\"\n[web]\nuser_agent = \" \"\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={"NEWSRAG_LLM__TIMEOUT": "inf"})
    assert str(caught.value).splitlines() == [
        "Invalid setting [embed] batch_size = 0: must be between 1 and 1024",
        "Invalid setting [embed] threads = 100000: must be between 0 and 256 (0 = automatic)",
        "Unknown setting [chunk] chunk_size: known keys are chunk_tokens, overlap_tokens, title_max_tokens, title_prefix",
        "Invalid setting [store] collection = \"a\": must be 3-60 letters, digits, '-' or '_', "
        "starting and ending with a letter or digit",
        "Invalid setting [llm] timeout = inf (from NEWSRAG_LLM__TIMEOUT): must be a finite number above 0 and at most 3600",
        "Invalid setting [ui] port = -1: must be between 0 and 65535 (a TCP port; 0 picks a free one)",
        'Invalid setting [web] user_agent = " ": must be a non-blank string',
    ]
    assert main(["--config", str(write(tmp_path, text)), "stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("newsrag: Invalid setting [embed] batch_size = 0") and err.count("\n") == 6
    assert "pydantic" not in err.lower() and "Traceback" not in err and "http" not in err


def test_rules_between_settings_name_the_key_and_both_values(tmp_path):
    cases = {
        "[retrieve]\ntop_k = 10\ncandidates = 5\n": "[retrieve] candidates = 5: must be at least top_k (10)",
        "[retrieve]\ndense_weight = 0\nbm25_weight = 0\n": "[retrieve] dense_weight = 0.0: dense_weight or bm25_weight",
        "[llm]\nn_ctx = 512\nmax_tokens = 512\n": "[llm] max_tokens = 512: must be below the context window (n_ctx 512",
        "[chunk]\nchunk_tokens = 250\ntitle_prefix = true\n": "[chunk] chunk_tokens = 250: chunk_tokens + title_max_tokens",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_settings(write(tmp_path, text), env={})


def test_a_key_outside_any_section_and_reserved_names(tmp_path):
    with pytest.raises(ConfigError, match=r"Setting top_k = 5 in .* is outside any section"):
        load_settings(write(tmp_path, "top_k = 5\n"), env={})
    with pytest.raises(ConfigError, match=r"Unknown settings section \[base_dir\]"):
        load_settings(write(tmp_path, '[base_dir]\nx = "/"\n'), env={})
    with pytest.raises(ConfigError, match=r"\[paths\] index_dir = \"\": must be a non-blank path"):
        load_settings(write(tmp_path, '[paths]\nindex_dir = ""\n'), env={})


def test_environment_uses_the_double_underscore_and_converts_text(tmp_path):
    path = write(tmp_path, "[embed]\nthreads = 1\n")
    env = {"NEWSRAG_EMBED__THREADS": "2", "newsrag_retrieve__recency_weight": "0.5", "NEWSRAG_STORE__SSL": "yes",
           "NEWSRAG_PATHS__INDEX_DIR": "/srv/index", "NEWSRAG_LLM__PROVIDER": "openai",
           "NEWSRAG_UI_PASSWORD": "not a setting", "NEWSRAG_SOURCE": "x", "NEWSRAG_BASE_DIR": "/elsewhere"}
    settings = load_settings(path, env=env)
    assert (settings.embed.threads, settings.retrieve.recency_weight, settings.store.ssl) == (2, 0.5, True)
    assert settings.paths.index_dir == Path("/srv/index") and settings.llm.provider == "openai"
    assert settings.base_dir == tmp_path.resolve() and settings.source == str(path)  # never from the environment
    with pytest.raises(ConfigError, match=r"^Invalid setting \[embed\] threads = 100000 \(from NEWSRAG_EMBED__THREADS\): "
                                          r"must be between 0 and 256"):
        load_settings(path, env={"NEWSRAG_EMBED__THREADS": "100000"})
    with pytest.raises(ConfigError, match="NEWSRAG_EMBED must hold a JSON table"):
        load_settings(path, env={"NEWSRAG_EMBED": "{threads"})


def test_replace_validates_like_loading():
    from rag.config import Settings

    base = Settings(base_dir=Path("/somewhere"), source="here.toml")
    copy = base.replace(embed={"threads": 2}, paths={"index_dir": "x"})
    assert (copy.embed.threads, copy.paths.index_dir, copy.base_dir, copy.source) == (2, Path("x"), Path("/somewhere"),
                                                                                     "here.toml")
    assert base.embed.threads == 0 and copy.chunk is base.chunk
    with pytest.raises(ConfigError, match=r"^Invalid setting \[embed\] threads = 100000: must be between 0 and 256"):
        base.replace(embed={"threads": 100000})
    with pytest.raises(ConfigError, match=r"Unknown setting \[ui\] colour"):
        base.replace(ui={"colour": "red"})
    with pytest.raises(ConfigError, match=r"\[chunk\] chunk_tokens = 300: .* exceeds"):
        base.replace(chunk={"chunk_tokens": 300})


# -- every numeric key: bounds from the models themselves ---------------------------------------------


def numeric_fields():
    from rag.config import SECTIONS

    for section, model in SECTIONS.items():
        for key, field in model.model_fields.items():
            if field.annotation in (int, float):
                yield f"{section}.{key}", field


def bounds(field):
    import annotated_types

    found = {name: getattr(m, name) for m in field.metadata for name in ("ge", "gt", "le", "lt")
             if isinstance(m, getattr(annotated_types, name.capitalize()))}
    return found


def bound(dotted: str, name: str):
    return bounds(dict(numeric_fields())[dotted])[name]


def companions(dotted: str) -> dict[str, dict[str, object]]:
    """Other keys a bound needs so that the rules between settings hold (everything else stays default)."""
    widest = bound("embed.max_tokens", "le")
    return {
        "embed.max_tokens": {"chunk": {"chunk_tokens": bound("chunk.chunk_tokens", "ge"), "overlap_tokens": 0}},
        "chunk.chunk_tokens": {"embed": {"max_tokens": widest}, "chunk": {"overlap_tokens": 0}},
        "chunk.overlap_tokens": {"embed": {"max_tokens": widest}, "chunk": {"chunk_tokens": bound("chunk.chunk_tokens", "le")}},
        "retrieve.candidates": {"retrieve": {"top_k": 1}},
        "llm.max_tokens": {"llm": {"n_ctx": bound("llm.n_ctx", "le"), "context_window": bound("llm.context_window", "le")}},
    }.get(dotted, {})


def toml_with(dotted: str, value) -> str:
    tables = {section: dict(keys) for section, keys in companions(dotted).items()}
    section, key = dotted.split(".")
    tables.setdefault(section, {})[key] = value
    return "".join(f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())
                   for name, keys in tables.items())


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def edges(dotted: str, field) -> tuple[list, list]:
    """(values at the bounds, values just outside them) for a numeric key."""
    b = bounds(field)
    assert ("ge" in b or "gt" in b) and "le" in b, f"{dotted} needs a lower and an upper bound"
    if field.annotation is int:
        return [b["ge"], b["le"]], [b["ge"] - 1, b["le"] + 1]
    low = [float(b["ge"])] if "ge" in b else [math.nextafter(b["gt"], math.inf)]
    below = [math.nextafter(b["ge"], -math.inf)] if "ge" in b else [float(b["gt"])]
    return low + [float(b["le"])], below + [math.nextafter(b["le"], math.inf)]


@pytest.mark.parametrize("dotted,field", list(numeric_fields()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_number_has_bounds_that_are_accepted_and_edges_that_are_not(tmp_path, dotted, field):
    from rag.config import allowed

    section, key = dotted.split(".")
    inside, outside = edges(dotted, field)
    for value in inside:
        settings = load_settings(write(tmp_path, toml_with(dotted, value)), env={})
        assert getattr(getattr(settings, section), key) == value
    for value in outside:
        with pytest.raises(ConfigError) as caught:
            load_settings(write(tmp_path, toml_with(dotted, value)), env={})
        assert str(caught.value) == f"Invalid setting [{section}] {key} = {toml_value(value)}: must be {allowed(field)}"


def test_config_toml_states_every_numeric_range():
    """Each numeric key's comment in config.toml gives its range as [a, b] or (a, b], as the model has it."""
    comments = {}
    section = ""
    for line in (ROOT / "config.toml").read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif re.match(r"^\w+\s*=", line):
            comments[f"{section}.{line.split('=')[0].strip()}"] = line.split("#", 1)[1]
    for dotted, field in numeric_fields():
        b = {name: f"{v:g}" if isinstance(v, float) else str(v) for name, v in bounds(field).items()}
        low = f"[{b['ge']}" if "ge" in b else f"({b['gt']}"
        assert f"range {low}, {b['le']}]" in comments[dotted], dotted


# -- random values never escape as anything but Settings or a ConfigError ------------------------------

SETTING_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), st.lists(st.integers(-5, 5), max_size=3),
)
SETTING_KEYS = st.sampled_from([*documented_keys(), "embed.nope", "nope.key", "chunking.chunk_tokens"])


def settled(make):
    from rag.config import Settings

    try:
        result = make()
    except ConfigError as exc:
        lines = str(exc).splitlines()
        assert lines and all(line.startswith(("Invalid setting [", "Unknown setting [", "Unknown settings section",
                                              "Settings section [", "Environment variable")) for line in lines), lines
        assert "pydantic" not in str(exc).lower()
        return None
    assert isinstance(result, Settings)
    return result


@given(st.dictionaries(SETTING_KEYS, SETTING_VALUES, max_size=6))
@hypothesis_settings(max_examples=200, deadline=None)
def test_random_toml_values_give_settings_or_a_config_error(values):
    tables: dict[str, dict[str, object]] = {}
    for dotted, value in values.items():
        section, key = dotted.split(".")
        tables.setdefault(section, {})[key] = value
    text = "".join(f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())
                   for name, keys in tables.items())
    tomllib.loads(text)  # the test writes valid TOML
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(text, encoding="utf-8")
        settings = settled(lambda: load_settings(path, env={}))
    if settings is not None:  # accepted: exactly what was written
        for dotted, value in values.items():
            section, key = dotted.split(".")
            got = getattr(getattr(settings, section), key)
            assert got == (Path(value) if isinstance(got, Path) else value), dotted


@given(st.dictionaries(SETTING_KEYS, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                             max_size=12), max_size=6))
@hypothesis_settings(max_examples=200, deadline=None)
def test_random_environment_values_give_settings_or_a_config_error(values):
    env = {f"NEWSRAG_{dotted.replace('.', '__').upper()}": value for dotted, value in values.items()}
    settled(lambda: load_settings(ROOT / "config.toml", env=env))
