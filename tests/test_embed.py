"""The embedding backends: ONNX agrees with sentence-transformers; asking never imports torch or gradio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ingest.index import ingest_paths
from rag.config import EmbedSettings
from rag.embed import OnnxEmbedder, SentenceTransformerEmbedder, get_embedder

from .conftest import ARTICLES, make_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def test_onnx_backend_agrees_with_sentence_transformers():
    texts = [line for line in (ARTICLES / "glowfish_festival.txt").read_text().splitlines() if line.strip()]
    onnx = get_embedder(EmbedSettings())
    torch = SentenceTransformerEmbedder(EmbedSettings(backend="torch"))
    assert isinstance(onnx, OnnxEmbedder)
    a, b = onnx.embed_documents(texts), torch.embed_documents(texts)
    assert a.shape == b.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert float(np.min(np.sum(a * b, axis=1))) >= 0.99


def test_batches_are_order_preserving():
    embedder = get_embedder(EmbedSettings(batch_size=2))
    texts = ["short", "a much longer sentence about the harbour bridge in Port Tessaly", "mid length text here"]
    together = embedder.embed_documents(texts)
    alone = np.stack([embedder.embed_query(t) for t in texts])
    assert float(np.min(np.sum(together * alone, axis=1))) > 0.9999


def test_asking_imports_neither_torch_nor_gradio(tmp_path, embedder):
    settings = make_settings(tmp_path, ARTICLES)
    ingest_paths([ARTICLES], settings, embedder=embedder)
    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\nindex_dir = "{settings.index_dir}"\n')
    code = ("import sys, json; from rag.cli import main; rc = main(['--config', sys.argv[1], 'ask', "
            "'Which town will host the first Glowfish Festival?']); "
            "print(json.dumps({'rc': rc, 'heavy': sorted(m for m in ('torch', 'transformers', 'sentence_transformers',"
            " 'gradio') if m in sys.modules)}))")
    out = subprocess.run([sys.executable, "-c", code, str(config)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "heavy": []}, out.stderr[-2000:]
    assert "Quillhaven" in out.stdout
