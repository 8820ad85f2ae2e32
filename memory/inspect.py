"""What a person looks at in the memory: one passage with its entities and facts, and the
neighbourhood of one entity (its edges to entities and passages, and every fact about it,
superseded ones included). Read-only; the web console draws these.

>>> mem.ingest_facts([("Ilse Varga", "works for", "Ostrander Mills")], ingest_id="a")
>>> [e["name"] for e in mem.passage(passage_id("Ilse Varga works for Ostrander Mills."))["entities"]]
['Ilse Varga', 'Ostrander Mills']
>>> sorted(e["kind"] for e in mem.neighbourhood("Ilse Varga")["edges"])
['passage', 'passage', 'relation']
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from memory.extract import normalize
from memory.facts import Fact, FactLedger
from memory.graph import MemoryGraph, entity_node, passage_node

if TYPE_CHECKING:
    from memory.store import Passage


def fact_view(fact: Fact) -> dict[str, Any]:
    """A stored fact with its lifetime, as plain data."""
    return {"id": fact.id, "ingest_id": fact.ingest_id, "subject": fact.subject, "relation": fact.relation,
            "object": fact.object, "valid_from": fact.valid_from, "invalid_from": fact.invalid_from,
            "superseded_by": fact.superseded_by}


class Inspection:
    """Passage and neighbourhood views over `GraphMemory`'s graph and fact ledger."""

    graph: MemoryGraph
    passage_data: dict[str, Passage]
    ledger: FactLedger
    _lock: threading.RLock

    def passage(self, pid: str) -> dict[str, Any] | None:
        """``{"id", "text", "metadata", "entities": [{"key", "name"}], "facts": [...]}``; None: unknown id."""
        with self._lock:
            passage = self.passage_data.get(pid)
            if passage is None:
                return None
            g = self.graph.g
            entities = sorted(
                ({"key": n[2:], "name": g.nodes[n].get("name", n[2:])} for n in g.neighbors(passage_node(pid))
                 if n.startswith("e:") and g.edges[passage_node(pid), n]["ctx"]),
                key=lambda e: e["key"],
            )
            facts = [fact_view(f) for f in self.ledger.of_passage(pid)]
            return {"id": pid, "text": passage.text, "metadata": dict(passage.metadata), "entities": entities,
                    "facts": facts}

    def neighbourhood(self, entity: str, limit: int = 30) -> dict[str, Any] | None:
        """An entity, its ``limit`` strongest neighbours, the edges among them, and its facts.

        Nodes are ``{"id": "e:<key>"|"p:<id>", "kind": "entity"|"passage", "label"}`` (the entity first);
        each edge ``{"source", "target", "kind", "relations", "synonym", "passage", "weight"}`` has the
        kind ``relation``, ``synonym`` or ``passage`` (the first that applies). None: unknown entity.
        """
        key = normalize(entity)
        center = entity_node(key)
        with self._lock:
            g = self.graph.g
            if not g.has_node(center):
                return None
            near = sorted(g.adj[center].items(), key=lambda item: (-item[1]["weight"], item[0]))[:limit]
            chosen = [center, *(n for n, _ in near)]
            nodes = [{"id": n, "kind": g.nodes[n]["kind"], "label": self._label(n)} for n in chosen]
            edges = [_edge_view(u, v, data) for u, v, data in g.subgraph(chosen).edges(data=True)]
            facts = [fact_view(f) for f in self.ledger.of_entity(key)]
            return {"key": key, "name": g.nodes[center].get("name", key), "nodes": nodes, "edges": edges,
                    "facts": facts}

    def _label(self, node: str) -> str:
        if node.startswith("e:"):
            return self.graph.g.nodes[node].get("name", node[2:])
        text = self.passage_data[node[2:]].text
        return text if len(text) <= 60 else text[:57] + "..."


def _edge_view(u: str, v: str, data: dict) -> dict[str, Any]:
    relations = sorted(data["rel"])
    kind = "relation" if relations else "synonym" if data["syn"] is not None else "passage"
    source, target = (u, v) if u <= v else (v, u)
    return {"source": source, "target": target, "kind": kind, "relations": relations, "synonym": data["syn"],
            "passage": bool(data["ctx"]), "weight": data["weight"]}
