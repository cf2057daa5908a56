"""A deterministic fake embedder for fast unit tests of retrieval logic (fusion, date priors).

Each content word is hashed to a few signed dimensions; a text's vector is the normalised
sum, so texts sharing words are similar and texts sharing none are orthogonal-ish.
The real model is used by the integration tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from rag.text import terms

DIM = 256


class FakeEmbedder:
    name = "fake-hash-embedder"
    max_tokens = 256
    precision = "fp32"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        return [self.count_tokens(t) for t in texts]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(DIM, dtype=np.float32)
        for word in terms(text):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            for k in range(3):
                vector[digest[k] % DIM] += 1.0 if digest[k + 3] % 2 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, DIM), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)
