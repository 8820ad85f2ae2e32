"""The knowledge graph: entity and passage nodes, relation / context / synonym edges.

Every node and every relation or context edge records the ingest ids that support it, so removing
an ingest removes exactly what only it added. Synonym edges belong to their two entities: they
live exactly as long as both endpoints do. The graph is undirected with one edge per node pair
(no duplicates); an edge's weight is derived from what supports it:
    weight = 2 x (number of distinct relations + synonym cosine) + 1 (if a passage contains the entity).
The factor 2 is HippoRAG 2's: it inserts relation and synonym edges in both directions into an
undirected graph, so they count twice a passage edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp


def passage_node(pid: str) -> str:
    return "p:" + pid


def entity_node(key: str) -> str:
    return "e:" + key


@dataclass
class GraphMatrix:
    """A CSR snapshot of the graph for PageRank: `nodes[i]` names row/column i."""

    nodes: list[str]
    index: dict[str, int]
    weights: sp.csr_matrix
    out_strength: np.ndarray
    passage_rows: np.ndarray
    _rows_cache: tuple[list[str], np.ndarray] | None = None

    def passage_rows_for(self, pids: list[str]) -> np.ndarray:
        """Row of each passage id (cached for the same list object)."""
        if self._rows_cache is None or self._rows_cache[0] is not pids:
            self._rows_cache = (pids, np.asarray([self.index[passage_node(p)] for p in pids], dtype=np.int64))
        return self._rows_cache[1]


class MemoryGraph:
    def __init__(self) -> None:
        self.g = nx.Graph()
        self._matrix: GraphMatrix | None = None

    # ---- queries -----------------------------------------------------------------------------
    def has_entity(self, key: str) -> bool:
        return self.g.has_node(entity_node(key))

    def has_passage(self, pid: str) -> bool:
        return self.g.has_node(passage_node(pid))

    def passage_count(self, key: str) -> int:
        """Number of passages that contain an entity (node specificity is 1 / this)."""
        node = entity_node(key)
        if not self.g.has_node(node):
            return 0
        return sum(1 for n in self.g.neighbors(node) if n.startswith("p:"))

    def passages_with(self, a: str, b: str) -> list[str]:
        """Ids of the passages that contain both entities (or entity `a` when a == b)."""
        u, v = entity_node(a), entity_node(b)
        if not (self.g.has_node(u) and self.g.has_node(v)):
            return []
        small, big = sorted((self.g.adj[u], self.g.adj[v]), key=len)
        return [n[2:] for n in small if n.startswith("p:") and (n in big or u == v)]

    def synonyms(self, key: str) -> dict[str, float]:
        """Entity keys joined to this entity by a synonym edge, with the edge's cosine."""
        node = entity_node(key)
        if not self.g.has_node(node):
            return {}
        return {n[2:]: data["syn"] for n, data in self.g.adj[node].items() if data["syn"] is not None}

    def stats(self) -> dict[str, int]:
        kinds = {"passage": 0, "entity": 0}
        for _, kind in self.g.nodes(data="kind"):
            kinds[kind] += 1
        return {"passages": kinds["passage"], "entities": kinds["entity"], "edges": self.g.number_of_edges()}

    def signature(self) -> tuple[dict, dict]:
        """Plain-data copy of nodes and edges with their attributes (for equality checks)."""
        nodes = {n: {k: _freeze(v) for k, v in d.items()} for n, d in self.g.nodes(data=True)}
        edges = {
            tuple(sorted((u, v))): {k: _freeze(x) for k, x in d.items()} for u, v, d in self.g.edges(data=True)
        }
        return nodes, edges

    # ---- additions ---------------------------------------------------------------------------
    def add_passage(self, pid: str, ingest: str) -> None:
        self._add_node(passage_node(pid), "passage", ingest)

    def add_entity(self, key: str, name: str, ingest: str) -> None:
        self._add_node(entity_node(key), "entity", ingest, name=name)

    def add_context(self, pid: str, key: str, ingest: str) -> None:
        data = self._edge(passage_node(pid), entity_node(key))
        data["ctx"].add(ingest)
        _reweigh(data)

    def add_relation(self, subject: str, relation: str, obj: str, ingest: str) -> None:
        if subject == obj:
            return
        data = self._edge(entity_node(subject), entity_node(obj))
        data["rel"].setdefault(relation, set()).add(ingest)
        _reweigh(data)

    def add_synonym(self, a: str, b: str, similarity: float) -> None:
        """Synonym edge between two existing entities (ignored if either is absent)."""
        u, v = entity_node(a), entity_node(b)
        if a == b or not (self.g.has_node(u) and self.g.has_node(v)):
            return
        data = self._edge(u, v)
        data["syn"] = max(float(similarity), data["syn"] or 0.0)
        _reweigh(data)

    # ---- removal -----------------------------------------------------------------------------
    def remove_support(
        self,
        ingest: str,
        passages: list[str],
        entities: list[str],
        contexts: list[tuple[str, str]],
        relations: list[tuple[str, str, str]],
    ) -> list[str]:
        """Withdraw one ingest's support; returns the entity keys whose nodes were deleted."""
        self._matrix = None
        for pid, key in contexts:
            self._drop_edge_support(passage_node(pid), entity_node(key), lambda d: d["ctx"].discard(ingest))
        for s, r, o in relations:
            def drop(d: dict, r: str = r) -> None:
                if r in d["rel"]:
                    d["rel"][r].discard(ingest)
                    if not d["rel"][r]:
                        del d["rel"][r]
            self._drop_edge_support(entity_node(s), entity_node(o), drop)
        for pid in passages:
            self._drop_node_support(passage_node(pid), ingest)
        removed = []
        for key in entities:
            if self._drop_node_support(entity_node(key), ingest):
                removed.append(key)
        return removed

    # ---- PageRank matrix ---------------------------------------------------------------------
    def matrix(self) -> GraphMatrix:
        """Cached CSR adjacency; rebuilt only after the graph changed."""
        if self._matrix is None:
            nodes = list(self.g.nodes)
            index = {n: i for i, n in enumerate(nodes)}
            rows, cols, vals = [], [], []
            for u, v, w in self.g.edges(data="weight"):
                i, j = index[u], index[v]
                rows += [i, j]
                cols += [j, i]
                vals += [w, w]
            n = len(nodes)
            w = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(n, n))
            strength = np.asarray(w.sum(axis=1)).ravel()
            passage_rows = np.asarray([i for i, node in enumerate(nodes) if node.startswith("p:")], dtype=np.int64)
            self._matrix = GraphMatrix(nodes, index, w, strength, passage_rows)
        return self._matrix

    # ---- internals ---------------------------------------------------------------------------
    def _add_node(self, node: str, kind: str, ingest: str, **attrs: str) -> None:
        self._matrix = None
        if not self.g.has_node(node):
            self.g.add_node(node, kind=kind, support=set(), **attrs)
        self.g.nodes[node]["support"].add(ingest)

    def _edge(self, u: str, v: str) -> dict:
        self._matrix = None
        for node in (u, v):
            if not self.g.has_node(node):
                raise KeyError(f"edge endpoint {node!r} is not in the graph")
        if not self.g.has_edge(u, v):
            self.g.add_edge(u, v, rel={}, ctx=set(), syn=None, weight=0.0)
        return self.g.edges[u, v]

    def _drop_edge_support(self, u: str, v: str, drop) -> None:
        if not self.g.has_edge(u, v):
            return
        data = self.g.edges[u, v]
        drop(data)
        if not data["rel"] and not data["ctx"] and data["syn"] is None:
            self.g.remove_edge(u, v)
        else:
            _reweigh(data)

    def _drop_node_support(self, node: str, ingest: str) -> bool:
        if not self.g.has_node(node):
            return False
        support = self.g.nodes[node]["support"]
        support.discard(ingest)
        if support:
            return False
        self.g.remove_node(node)
        return True


ENTITY_EDGE_FACTOR = 2.0
"""Weight of relation and synonym support relative to a passage-contains-entity edge."""


def _reweigh(data: dict) -> None:
    entity = len(data["rel"]) + (data["syn"] or 0.0)
    data["weight"] = float(ENTITY_EDGE_FACTOR * entity + (1.0 if data["ctx"] else 0.0))


def _freeze(value):
    if isinstance(value, set):
        return frozenset(value)
    if isinstance(value, dict):
        return frozenset((k, _freeze(v)) for k, v in value.items())
    return value
