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
        with _single_omp_thread():
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


class NeighbourIndex:
    """Approximate kNN (faiss HNSW) over entity vectors, for synonym edges at ingest.

    Search cost grows with log(size), so the synonym cost per new entity stays flat as the memory
    grows. HNSW cannot delete: removed keys are masked and the index is rebuilt from the exact
    index once more than a quarter of its rows are dead. Only an accelerator: the graph and the
    exact `VectorIndex` remain the state that revert and restart must reproduce.
    """

    def __init__(self, dim: int, m: int = 32, ef_search: int = 32) -> None:
        self.dim, self.m, self.ef_search = dim, m, ef_search
        self._reset()

    def _reset(self) -> None:
        self._index = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        self._rows: list[str | None] = []
        self._row_of: dict[str, int] = {}

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        fresh = [i for i, k in enumerate(keys) if k not in self._row_of]
        if not fresh:
            return
        for i in fresh:
            self._row_of[keys[i]] = len(self._rows)
            self._rows.append(keys[i])
        with _single_omp_thread():
            self._index.add(np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[fresh]))

    def remove(self, keys: list[str], exact: VectorIndex) -> None:
        for key in keys:
            row = self._row_of.pop(key, None)
            if row is not None:
                self._rows[row] = None
        if len(self._rows) > 64 and len(self._row_of) < 0.75 * len(self._rows):
            live = sorted(exact.keys())
            self._reset()
            if live:
                self.add(live, exact.vectors(live))

    def search_above(
        self, queries: np.ndarray, threshold: float, k_max: int, k_first: int = 16
    ) -> list[list[tuple[str, float]]]:
        """Neighbours scoring >= threshold, at most k_max per query, best first.

        Searches k_first neighbours and doubles k only for queries whose k-th neighbour still passes
        the threshold, so the cost follows the number of near neighbours rather than k_max.
        """
        queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        out: list[list[tuple[str, float]]] = [[] for _ in range(len(queries))]
        todo, k = np.arange(len(queries)), min(k_first, k_max)
        while len(todo) and self._row_of:
            self._index.hnsw.efSearch = max(2 * k, self.ef_search)
            with _single_omp_thread():
                scores, rows = self._index.search(queries[todo], k)
            again = []
            for q, srow, rrow in zip(todo, scores, rows):
                out[q] = [(self._rows[r], float(s)) for s, r in zip(srow, rrow) if s >= threshold and r >= 0 and self._rows[r] is not None]
                if k < k_max and rrow[-1] >= 0 and srow[-1] >= threshold:
                    again.append(q)
            todo, k = np.asarray(again, dtype=np.int64), min(2 * k, k_max)
        return out


class _single_omp_thread:
    """faiss's OpenMP threads cost more than they save for small batches on a busy CPU."""

    def __enter__(self) -> None:
        self.threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)

    def __exit__(self, *exc) -> None:
        faiss.omp_set_num_threads(self.threads)
