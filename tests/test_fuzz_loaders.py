"""Hypothesis over the loaders (txt, md, html, json, jsonl, pdf, docx): random bytes (also behind a PDF or
DOCX magic header), truncated, damaged and byte-mutated files, odd encodings, giant fields and deep nesting.
No crash, no hang, a reason for every rejected file (the property is :func:`tests.fuzz_files.check`).
A bounded run; `bench/fuzz_loaders.py` runs longer."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from .fuzz_files import check, files

pytestmark = pytest.mark.unit
EXAMPLES = 80  # about 20 s on 2 cores


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=files(max_chars=150_000))
def test_loaders_never_crash_never_hang_and_always_say_why(tmp_path_factory, case):
    suffix, data = case
    path = tmp_path_factory.mktemp("fuzz") / f"case{suffix}"
    path.write_bytes(data)
    check(path)


@pytest.mark.parametrize(("name", "content"), [
    ("deep.html", "<html><body>" + "<div>" * 50_000 + "text " * 100 + "</div>" * 50_000 + "</body></html>"),
    ("deep.json", "[" * 100_000 + "]" * 100_000),
    ("deep.jsonl", '{"a":' * 50_000 + "1" + "}" * 50_000 + "\n"),
    ("deep_field.json", '{"title": "t", "text": ' + "[" * 900 + '"deep"' + "]" * 900 + "}"),
    ("longline.txt", "Title\n\n" + "word " * 400_000),
    ("big.json", json.dumps([{"title": f"T{i}", "text": "body " * 200} for i in range(3000)])),
    ("surrogates.jsonl", '{"title": "\\udc00", "text": "\\ud83d\\ud83d \\ude00 x"}\n'),
    ("nul.jsonl", '{"title": "a", "text": "b"}\n\x00\n{"title": "c", "text": "d"}\n'),
])
def test_loaders_survive_pathological_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    outcome = check(path)
    assert outcome.loaded is not None or outcome.reason
