"""HippoRAG 2-style retrieval: dense fact and passage matching, seeds, Personalized PageRank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from memory.graph import GraphMatrix


@dataclass
class RetrievalConfig:
    """Retrieval knobs; defaults are HippoRAG 2's (`utils/config_utils.py:BaseConfig`)."""

    linking_top_k: int = 5
    """Facts matched to the query; their entities become PageRank seeds (top-k entities kept)."""
    passage_node_weight: float = 0.05
    """Seed weight of every passage relative to entity seeds (times its min-max dense score)."""
    damping: float = 0.5
    """Probability of following an edge at each PageRank step (igraph's `damping`)."""
    ppr_tol: float = 1e-7
    """Stop the power iteration when the L1 change falls below this."""
    ppr_max_iter: int = 100
    """Upper bound on power-iteration steps."""
    min_fact_score: float = 0.0
    """Facts whose cosine with the query is below this are not used as seeds."""
    fact_context_weight: float = 1.0
    """Linking score of a fact = its cosine + this x the best cosine of a passage that mentions both
    its entities: a model-free stand-in for HippoRAG 2's LLM fact filter (0 turns it off). Chosen on
    MuSiQue questions 50..99 only (see README)."""

    def __post_init__(self) -> None:
        if self.linking_top_k < 1:
            raise ValueError("linking_top_k must be >= 1")
        if self.passage_node_weight < 0 or self.fact_context_weight < 0:
            raise ValueError("passage_node_weight and fact_context_weight must be >= 0")
        if not 0.0 < self.damping < 1.0:
            raise ValueError("damping must be in (0, 1)")
        if self.ppr_tol <= 0 or self.ppr_max_iter < 1:
            raise ValueError("ppr_tol must be > 0 and ppr_max_iter >= 1")


def minmax(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """Scale scores to [0, 1] given the range over the whole collection."""
    if high - low <= 1e-12:
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def row_max(rows: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Per row of a 0/1 (n, m) matrix, the largest of `values` (shape (m,)) at its columns; 0 for empty rows."""
    out = np.zeros(rows.shape[0])
    filled = np.diff(rows.indptr) > 0
    if filled.any():
        out[filled] = np.maximum.reduceat(values[rows.indices], rows.indptr[:-1][filled])
    return out


def entity_seeds(
    facts: list[tuple[float, str, str]], passage_count: dict[str, int], top_k: int
) -> dict[str, float]:
    """Seed weight per entity from matched facts (score, subject key, object key).

    An entity gets the fact score divided by the number of passages containing it (node
    specificity), averaged over the facts it occurs in; only the top_k entities are kept.
    """
    total: dict[str, float] = {}
    count: dict[str, int] = {}
    for score, *ends in facts:
        for key in ends:
            weight = score / max(passage_count.get(key, 0), 1)
            total[key] = total.get(key, 0.0) + weight
            count[key] = count.get(key, 0) + 1
    seeds = {k: total[k] / count[k] for k in total}
    kept = sorted(seeds.items(), key=lambda kv: kv[1], reverse=True)[:top_k]
    return {k: v for k, v in kept if v > 0}


def personalized_pagerank(matrix: GraphMatrix, reset: np.ndarray, damping: float, tol: float, max_iter: int) -> np.ndarray:
    """PPR on an undirected weighted graph; mass at nodes without edges returns to the reset vector."""
    reset = reset / reset.sum()
    strength = matrix.out_strength
    dangling = strength <= 0
    inv = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, strength))
    wt = matrix.weights  # symmetric, so W^T == W
    p = reset.copy()
    for _ in range(max_iter):
        nxt = damping * (wt @ (p * inv))
        nxt += (damping * p[dangling].sum() + (1.0 - damping)) * reset
        done = np.abs(nxt - p).sum() < tol
        p = nxt
        if done:
            break
    return p
