"""Exact inner-product vector indexes (faiss) keyed by string ids, with removal."""

from __future__ import annotations

import hashlib

import faiss
import numpy as np


_controller = None


def _single_blas_thread():
    """A matrix-vector product is memory-bound: waking BLAS threads costs more than it saves
    (30x slower on a busy 2-core machine)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def key_to_int(key: str) -> int:
    """Stable 63-bit faiss id for a string key, so equal contents give equal indexes."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") >> 1


class VectorIndex:
    """A flat inner-product faiss index whose rows are named by string keys.

    Vectors are expected L2-normalised, so scores are cosine similarities.
    """

    def __init__(self, dim: int) -> None:
        if dim <= 0:
            raise ValueError("index dimension must be positive")
        self.dim = dim
        self._flat = faiss.IndexFlatIP(dim)
        self._index = faiss.IndexIDMap2(self._flat)
        self._keys: dict[int, str] = {}
        self._dense: tuple[list[str], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: str) -> bool:
        return key_to_int(key) in self._keys

    def keys(self) -> set[str]:
        return set(self._keys.values())

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        """Add rows for keys not yet present (present keys are left as they are)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        rows, ids = [], []
        for i, key in enumerate(keys):
            kid = key_to_int(key)
            if kid in self._keys:
                continue
            existing = self._keys.setdefault(kid, key)
            if existing != key:
                raise RuntimeError(f"faiss id collision between {existing!r} and {key!r}")
            rows.append(i)
            ids.append(kid)
        if ids:
            self._dense = None
            self._index.add_with_ids(np.ascontiguousarray(vectors[rows]), np.asarray(ids, dtype=np.int64))

    def remove(self, keys: list[str]) -> None:
        ids = [key_to_int(k) for k in keys if key_to_int(k) in self._keys]
        if not ids:
            return
        self._dense = None
        for kid in ids:
            del self._keys[kid]
        self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def vector(self, key: str) -> np.ndarray:
        return self._index.reconstruct(key_to_int(key))

    def vectors(self, keys: list[str]) -> np.ndarray:
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vector(k) for k in keys])

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (key, score) per query row, best first."""
        queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        k = min(k, len(self._keys))
        if k <= 0:
            return [[] for _ in range(len(queries))]
        scores, ids = self._index.search(queries, k)
        return [
            [(self._keys[int(i)], float(s)) for s, i in zip(srow, irow) if i >= 0]
            for srow, irow in zip(scores, ids)
        ]

    def all_scores(self, query: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(keys, scores) of one query against every row, in storage order.

        Served from a cached numpy view of the flat index: one matrix-vector product, without
        faiss's or BLAS's per-call thread start-up, which dominates single-query latency on small CPUs.
        """
        if self._dense is None:
            n = self._index.ntotal
            ids = faiss.vector_to_array(self._index.id_map)
            codes = faiss.vector_to_array(self._flat.codes).view(np.float32).reshape(n, self.dim)
            self._dense = ([self._keys[int(i)] for i in ids], codes)
        keys, matrix = self._dense
        with _single_blas_thread():
            return keys, matrix @ np.asarray(query, dtype=np.float32).reshape(self.dim)

    def contents(self) -> dict[str, bytes]:
        """key -> raw vector bytes; equal dicts mean identical index contents."""
        return {key: self._index.reconstruct(kid).tobytes() for kid, key in self._keys.items()}
