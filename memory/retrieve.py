"""HippoRAG 2-style retrieval: dense fact and passage matching, seeds, Personalized PageRank.

The math is pure functions; `Retrieval` is the read side of `GraphMemory`, which mixes it in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from memory.extract import normalize
from memory.facts import FactHit, FactLedger, hit, parse_time
from memory.graph import GraphMatrix, MemoryGraph, entity_node
from memory.index import VectorIndex

if TYPE_CHECKING:
    from memory.embed import Embedder
    from memory.store import MemoryConfig, Passage


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


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties: lower index first)."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.lexsort((np.arange(len(scores)), -scores))


class Retrieval:
    """Passage and fact search over `GraphMemory`'s graph, indexes and fact ledger (its read side)."""

    embedder: Embedder
    config: MemoryConfig
    graph: MemoryGraph
    passages: VectorIndex
    entities: VectorIndex
    facts: VectorIndex
    passage_data: dict[str, Passage]
    fact_data: dict[str, dict]
    ledger: FactLedger
    _lock: threading.RLock
    _fact_rows: tuple[list[str], list[str], GraphMatrix, sp.csr_matrix] | None
    _positions: dict[str, tuple[list[str], dict[str, int]]]

    def search(self, query: str, k: int = 5, as_of: str | None = None) -> list[dict]:
        """Top-k passages by Personalized PageRank: [{"id", "text", "score", "metadata"}].

        Only facts valid at `as_of` (ISO-8601; None: the current facts) seed the PageRank, and a
        passage whose stated facts are none of them valid is not returned (see `memory.facts`)."""
        as_of = parse_time(as_of)
        q = self.embedder.encode([query])[0]
        with self._lock:
            return self._rank(q, k, True, as_of)

    def dense_search(self, query: str, k: int = 5, as_of: str | None = None) -> list[dict]:
        """The dense-only baseline: passages ranked by cosine with the query (same `as_of` filter)."""
        as_of = parse_time(as_of)
        q = self.embedder.encode([query])[0]
        with self._lock:
            return self._rank(q, k, False, as_of)

    def search_facts(self, query: str, k: int = 5, as_of: str | None = None) -> list[FactHit]:
        """Facts valid at `as_of` (None: current) ranked by the cosine of the query with their text
        "subject relation object": a raw, uncalibrated cosine in [-1, 1]. One hit per triple."""
        as_of = parse_time(as_of)
        q = self.embedder.encode([query])[0]
        with self._lock:
            if not len(self.facts):
                return []
            fids, cosine = self.facts.all_scores(q)
            hidden = self.ledger.hidden_triples(as_of)
            live = self._mask("facts", fids, hidden)
            scores = cosine if live is None else np.where(live, cosine, -np.inf)
            best = top_k(scores, min(k, len(fids) - len(hidden)))
            return [hit(self.ledger.representative(fids[i], as_of), float(cosine[i])) for i in best]

    def facts_about(self, entity: str, as_of: str | None = None) -> list[FactHit]:
        """Facts valid at `as_of` (None: current) whose subject or object is this entity or a synonym.

        The entity is its stored key, else the stored entities whose cosine with it reaches
        `synonym_threshold`; synonym edges add their neighbours. A hit's score is that match
        (1.0 for the entity itself, cosine products for the others); best first, then oldest."""
        as_of = parse_time(as_of)
        key = normalize(entity)
        with self._lock:
            known = self.graph.has_entity(key)
        q = None if known else self.embedder.encode([entity])[0]
        cfg = self.config
        with self._lock:
            if q is None:
                matches = {key: 1.0}
            else:
                near = self.entities.search(q, cfg.synonym_top_k)[0]
                matches = {node[2:]: score for node, score in near if score >= cfg.synonym_threshold}
            for name, score in list(matches.items()):
                for other, sim in self.graph.synonyms(name).items():
                    matches[other] = max(matches.get(other, 0.0), score * sim)
            hits: dict[str, FactHit] = {}
            for name, score in matches.items():
                for triple in self.ledger.about(name):
                    fact = self.ledger.representative(triple, as_of)
                    if fact is not None and (triple not in hits or hits[triple].score < score):
                        hits[triple] = hit(fact, score)
            return sorted(hits.values(), key=lambda h: (-h.score, h.valid_from, h.id))

    def _rank(self, q: np.ndarray, k: int, graph: bool, as_of: str | None) -> list[dict]:
        cfg = self.config.retrieval
        pids, dense = self.passages.all_scores(q)
        if not pids:
            return []
        keep = self._mask("passages", pids, self.ledger.hidden_passages(as_of))
        if keep is not None:
            if not keep.any():
                return []
            dense = np.where(keep, dense, dense[keep].min())  # hidden passages lend no weight
        seeds: dict[str, float] = {}
        if graph and len(self.facts):
            fids, cosine = self.facts.all_scores(q)
            fscores = cosine
            if cfg.fact_context_weight:
                fscores = cosine + cfg.fact_context_weight * row_max(self._fact_passages(fids, pids), dense)
            live = self._mask("facts", fids, self.ledger.hidden_triples(as_of))
            if live is not None:
                fscores = np.where(live, fscores, -np.inf)
            top = [i for i in top_k(fscores, cfg.linking_top_k) if live is None or live[i]]
            valid = fscores if live is None else fscores[live]
            low, high = (float(valid.min()), float(valid.max())) if len(valid) else (0.0, 0.0)
            matched = [
                (float(minmax(fscores[i], low, high)), self.fact_data[fids[i]]["s"], self.fact_data[fids[i]]["o"])
                for i in top
                if cosine[i] >= cfg.min_fact_score
            ]
            ends = {key for _, s, o in matched for key in (s, o)}
            seeds = entity_seeds(matched, {e: self.graph.passage_count(e) for e in ends}, cfg.linking_top_k)
        scores = dense
        if seeds:
            m = self.graph.matrix()
            reset = np.zeros(len(m.nodes))
            for key, weight in seeds.items():
                reset[m.index[entity_node(key)]] += weight
            rows = m.passage_rows_for(pids)
            reset[rows] += minmax(dense, float(dense.min()), float(dense.max())) * cfg.passage_node_weight
            scores = personalized_pagerank(m, reset, cfg.damping, cfg.ppr_tol, cfg.ppr_max_iter)[rows]
        if keep is not None:
            scores = np.where(keep, scores, -np.inf)
            k = min(k, int(keep.sum()))
        return [self._hit(pids[i], float(scores[i])) for i in top_k(scores, k)]

    def _mask(self, name: str, keys: list[str], hidden: set[str]) -> np.ndarray | None:
        """Boolean mask over an index's keys, False at the hidden ones; None when none is hidden.

        Key positions are cached per index until it hands out a new key list."""
        if not hidden:
            return None
        cached = self._positions.get(name)
        if cached is None or cached[0] is not keys:
            cached = self._positions[name] = (keys, {key: i for i, key in enumerate(keys)})
        keep = np.ones(len(keys), dtype=bool)
        keep[[cached[1][key] for key in hidden]] = False
        return keep

    def _fact_passages(self, fids: list[str], pids: list[str]) -> sp.csr_matrix:
        """0/1 matrix (facts x passages, in index order): the passages that mention both ends of a fact.

        Cached until the graph or either index changes (they hand out new key lists then)."""
        m = self.graph.matrix()
        cached = self._fact_rows
        if cached is None or cached[0] is not fids or cached[1] is not pids or cached[2] is not m:
            col = {p: j for j, p in enumerate(pids)}
            indptr, indices = [0], []
            for fid in fids:
                f = self.fact_data[fid]
                indices += [col[p] for p in self.graph.passages_with(f["s"], f["o"])]
                indptr.append(len(indices))
            data = np.ones(len(indices))
            rows = sp.csr_matrix((data, np.asarray(indices, dtype=np.int64), indptr), shape=(len(fids), len(pids)))
            self._fact_rows = cached = (fids, pids, m, rows)
        return cached[3]

    def _hit(self, pid: str, score: float) -> dict:
        p = self.passage_data[pid]
        return {"id": pid, "text": p.text, "score": score, "metadata": p.metadata}
