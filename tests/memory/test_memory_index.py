"""The synonym neighbour index: threshold search that widens k only where needed."""

import numpy as np

from memory.index import NeighbourIndex


def test_search_above_finds_every_near_neighbour_beyond_the_first_k():
    rng = np.random.default_rng(0)
    base = rng.normal(size=16)
    near = base + 0.05 * rng.normal(size=(40, 16))
    far = rng.normal(size=(200, 16))
    vecs = np.vstack([near, far]).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = NeighbourIndex(16)
    index.add([f"k{i}" for i in range(len(vecs))], vecs)
    query = (base / np.linalg.norm(base)).astype(np.float32)[None]
    hits = index.search_above(query, 0.9, k_max=100, k_first=4)[0]
    assert {k for k, _ in hits} == {f"k{i}" for i in range(40)}
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert len(index.search_above(query, 0.9, k_max=10, k_first=4)[0]) == 10
