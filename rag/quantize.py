"""int8 quantization of the exported embedding model, kept accurate enough to index with.

ONNX Runtime's dynamic quantization (int8 weights per output channel, activations quantized on the
fly) runs MiniLM about 1.4x faster on this CPU. Most of its error comes from the feed-forward
down-projections of the first layers, whose inputs (after GELU) have a few very large channels; those
MatMuls stay in float. Measured on the realtimeqa-dev chunks, see the README's Performance section.
The embedder checks the agreement on ``data/agreement.txt`` before it uses the result. Needs ``onnx``
and ONNX Runtime only, never torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
FLOAT_DOWN_PROJECTIONS = 3  # the first layers' feed-forward down-projections stay in float
RECIPE = f"dynamic-per-channel-float{FLOAT_DOWN_PROJECTIONS}-v1"  # part of the cache key
MIN_MEAN_AGREEMENT = 0.99  # mean cosine with the float model on data/agreement.txt
MIN_WORST_AGREEMENT = 0.98  # and no text below this


def read_texts(name: str) -> list[str]:
    """Paragraphs of a text file in ``rag/data``; lines starting with # are comments."""
    lines = [line for line in (DATA / name).read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return [" ".join(p.split()) for p in "\n".join(lines).split("\n\n") if p.strip()]


def down_projections(model: Any) -> list[str]:
    """MatMuls whose weight maps a wider input to a narrower output (feed-forward outputs), in graph order."""
    shapes = {i.name: list(i.dims) for i in model.graph.initializer}
    return [str(node.name) for node in model.graph.node if node.op_type == "MatMul"
            and len(shape := shapes.get(node.input[1], [])) == 2 and shape[0] > shape[1]]


def quantize(source: Path, target: Path) -> None:
    """Quantize every weight MatMul of ``source`` to int8 but the first down-projections."""
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = down_projections(onnx.load(str(source)))[:FLOAT_DOWN_PROJECTIONS]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice and per-tensor notes on the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=keep,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def agreement(embed_a: Callable[[Sequence[str]], np.ndarray], embed_b: Callable[[Sequence[str]], np.ndarray],
              texts: Sequence[str]) -> tuple[float, float]:
    """(mean, worst) cosine between two embedders' normalised vectors for ``texts``."""
    cos = np.sum(embed_a(texts) * embed_b(texts), axis=1)
    return float(cos.mean()), float(cos.min())
