"""GraphMemory: the graph, its three vector indexes and their durable history, in one object."""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp

from memory.changes import told_change, with_change
from memory.embed import Embedder
from memory.errors import DocumentTooLargeError, MemoryInputError
from memory.extract import Extraction, Extractor, ground, normalize, sanitize
from memory.facts import Fact, FactLedger, normalize_relation, parse_time, utc_time
from memory.graph import GraphMatrix, MemoryGraph, entity_node
from memory.index import NeighbourIndex, VectorIndex
from memory.inspect import Inspection
from memory.journal import IngestJournal, check_ingest_id
from memory.retrieve import Retrieval, RetrievalConfig

Progress = Callable[[float, str], None]


@dataclass
class MemoryConfig:
    synonym_threshold: float = 0.8
    """Cosine at or above which two entities get a synonym edge (HippoRAG 2: 0.8)."""
    synonym_top_k: int = 100
    """Neighbours searched per new entity (HippoRAG keeps at most ~101)."""
    synonym_min_chars: int = 3
    """Entities with fewer alphanumeric characters get no synonym edges."""
    max_document_chars: int = 1_000_000
    """Documents longer than this are refused."""
    max_passage_chars: int = 1200
    """Documents are split into passages of at most this many characters, on paragraph and sentence ends."""
    extract_batch: int = 64
    """Passages handed to the extractor per call (cached after each); progress is reported per passage."""
    relation_threshold: float = 0.85
    """Cosine at or above which two normalised relation phrasings count as the same relation for
    supersession (outside `memory.facts.FUNCTIONAL_RELATIONS`, whose groups decide by themselves).
    On all-MiniLM-L6-v2, "works for"/"worked for" is 0.87 and "located in"/"resides in" 0.76."""
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.synonym_threshold <= 1.0 or not 0.0 < self.relation_threshold <= 1.0:
            raise ValueError("synonym_threshold and relation_threshold must be in (0, 1]")
        if self.synonym_top_k < 1 or self.extract_batch < 1:
            raise ValueError("synonym_top_k and extract_batch must be >= 1")
        if self.max_passage_chars < 100 or self.max_document_chars < self.max_passage_chars:
            raise ValueError("need 100 <= max_passage_chars <= max_document_chars")


@dataclass
class Document:
    text: str
    id: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass
class Passage:
    id: str
    text: str
    metadata: dict = field(default_factory=dict)


@dataclass
class IngestResult:
    id: str
    passages: int
    entities: int
    triples: int
    seconds: float
    superseded: list[str] = field(default_factory=list)
    """Ids of the facts this ingest superseded (they stay stored, no longer current)."""


def passage_id(text: str) -> str:
    return "p-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def split_passages(doc: Document, max_chars: int) -> list[Passage]:
    """Split a document on blank lines, then sentence ends, into passages of <= max_chars."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", doc.text.strip()):
        para = para.strip()
        while len(para) > max_chars:
            cut = max(para.rfind(". ", 0, max_chars), para.rfind("\n", 0, max_chars))
            cut = cut + 1 if cut > max_chars // 3 else max_chars
            pieces.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            pieces.append(para)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 2 + len(piece) <= max_chars:
            chunks[-1] += "\n\n" + piece
        else:
            chunks.append(piece)
    out = []
    for i, text in enumerate(chunks):
        pid = passage_id(text) if doc.id is None else (doc.id if len(chunks) == 1 else f"{doc.id}#{i}")
        meta = dict(doc.metadata, **({"document": doc.id} if doc.id is not None else {}))
        out.append(Passage(pid, text, meta))
    return out


class GraphMemory(Retrieval, Inspection):
    """HippoRAG 2-style memory with incremental ingest, exact removal and persistence.

    `root=None` keeps everything in memory (tests, evaluation). All methods are thread-safe.
    """

    def __init__(self, root: Path | None, embedder: Embedder, extractor: Extractor, config: MemoryConfig | None = None) -> None:
        self.embedder = embedder
        self.extractor = extractor
        self.config = config or MemoryConfig()
        self.graph = MemoryGraph()
        self.passages = VectorIndex(embedder.dim)
        self.entities = VectorIndex(embedder.dim)
        self.facts = VectorIndex(embedder.dim)
        self.neighbours = NeighbourIndex(embedder.dim)
        self.passage_data: dict[str, Passage] = {}
        self.fact_data: dict[str, dict] = {}
        self.records: dict[str, dict] = {}
        self._lock = threading.RLock()
        self.ledger = FactLedger(self.config.relation_threshold)
        self._fact_rows: tuple[list[str], list[str], GraphMatrix, sp.csr_matrix] | None = None
        self._positions: dict[str, tuple[list[str], dict[str, int]]] = {}
        self.journal = IngestJournal(Path(root)) if root is not None else None
        if self.journal is not None:
            for ingest_id in self.journal.live_ids():
                self._apply(*self.journal.read(ingest_id), recompute=False)
            self.ledger.recompute()

    # ---- ingest ------------------------------------------------------------------------------
    def ingest_documents(self, documents: list[Document], ingest_id: str | None = None, progress: Progress | None = None) -> IngestResult:
        passages: list[Passage] = []
        for doc in documents:
            if not isinstance(doc.text, str) or not doc.text.strip():
                raise MemoryInputError("every document needs non-empty text")
            if len(doc.text) > self.config.max_document_chars:
                raise DocumentTooLargeError(
                    f"document of {len(doc.text)} characters exceeds the limit of "
                    f"{self.config.max_document_chars}; split it into several documents"
                )
            passages += split_passages(doc, self.config.max_passage_chars)
        return self.ingest_passages(passages, ingest_id=ingest_id, progress=progress)

    def ingest_facts(
        self,
        facts: list[tuple[str, str, str]],
        ingest_id: str | None = None,
        replaces: bool | None = None,
        valid_from: str | None = None,
    ) -> IngestResult:
        """Stated facts skip extraction: each becomes a one-sentence passage with its triple.

        A fact supersedes the current facts of its subject with the same relation and another object
        when `replaces` is True, never when False, and when None if the relation is functional
        (`memory.facts.FUNCTIONAL_RELATIONS`) or tells a change (`memory.changes.told_change`). `valid_from`
        (ISO-8601; default: now) dates the facts.

        >>> mem.ingest_facts([("Ilse Varga", "works for", "Ostrander Mills")], ingest_id="a").superseded
        []
        >>> mem.ingest_facts([("Ilse Varga", "works for", "Kettle & Finch")], ingest_id="b").superseded
        ['f-cbc28d207218c8a3@a']
        >>> mem.remove("b")  # "Ilse Varga works for Ostrander Mills" is current again
        True
        """
        passages, extractions = [], []
        for fact in facts:
            if len(fact) != 3 or not all(isinstance(x, str) and normalize(x) for x in fact):
                raise MemoryInputError("every fact needs a non-empty subject, relation and object")
            s, r, o = (x.strip() for x in fact)
            text = f"{s} {r} {o}."
            passages.append(Passage(passage_id(text), text, {"fact": [s, r, o]}))
            extractions.append(Extraction([s, o], [(s, r, o)]))
        return self.ingest_passages(passages, extractions, ingest_id, replaces=replaces, valid_from=valid_from)

    def ingest_passages(
        self,
        passages: list[Passage],
        extractions: list[Extraction] | None = None,
        ingest_id: str | None = None,
        progress: Progress | None = None,
        grounded: bool = True,
        replaces: bool | None = None,
        valid_from: str | None = None,
    ) -> IngestResult:
        """Ingest passages as one unit (one ingest id); extraction runs unless given.

        `grounded=False` keeps given triples whose arguments are paraphrased rather than quoted
        (trusted external OpenIE, e.g. HippoRAG's own files); malformed triples are still dropped.
        `replaces` and `valid_from` as in `ingest_facts`.
        """
        start = time.perf_counter()
        if not passages:
            raise MemoryInputError("nothing to ingest")
        if replaces is not None and not isinstance(replaces, bool):
            raise MemoryInputError("replaces must be true, false or null")
        valid_from = parse_time(valid_from)
        ingest_id = check_ingest_id(ingest_id or "mem-" + uuid.uuid4().hex[:12])
        if ingest_id in self.records:
            raise MemoryInputError(f"ingest id {ingest_id!r} already exists")
        if extractions is None:
            extractions = self._extract([p.text for p in passages], progress)
        elif len(extractions) != len(passages):
            raise MemoryInputError("need one extraction per passage")
        extractions = [ground(e, p.text) if grounded else sanitize(e) for e, p in zip(extractions, passages)]
        with self._lock:
            if replaces is None and len(passages) == 1 and (change := told_change(passages[0].text, extractions[0],
                                                                                  self._current_facts)):
                extractions = [with_change(extractions[0], change)]
            for p in passages:
                known = self.passage_data.get(p.id)
                if known is not None and known.text != p.text:
                    raise MemoryInputError(f"passage id {p.id!r} is already used by a different text")
            record, vectors = self._build_record(ingest_id, passages, extractions, replaces, valid_from)
            if self.journal is not None:
                self.journal.add(record, vectors)
            self._apply(record, vectors)
            superseded = self.ledger.superseded_by_ingest(ingest_id)
        if progress:
            progress(1.0, "ingested")
        return IngestResult(
            ingest_id, len(record["passages"]), len(record["entities"]), len(record["facts"]),
            time.perf_counter() - start, superseded,
        )

    def _current_facts(self, entity: str) -> list[Fact]:
        """The current facts whose subject or object is this entity key."""
        return [f for f in self.ledger.of_entity(entity) if f.invalid_from is None]

    def _extract(self, texts: list[str], progress: Progress | None) -> list[Extraction]:
        out: list[Extraction] = []
        step = self.config.extract_batch
        for i in range(0, len(texts), step):
            def done(n: int, first: int = i) -> None:
                if progress:
                    progress(0.9 * (first + n) / len(texts), f"extracted {first + n}/{len(texts)} passages")

            out += self.extractor.extract(texts[i : i + step], progress=done)
        return out

    def _build_record(
        self, ingest_id: str, passages: list[Passage], extractions: list[Extraction], replaces: bool | None, valid_from: str | None
    ) -> tuple[dict, dict]:
        """Everything one ingest adds, with vectors; synonym edges only for its new entities.

        Each fact keeps its surface form, normalised relation and stating passages; the record keeps
        the ingest's `valid_from` and `replaces`, and the vectors of its relations (for supersession)."""
        uniq = {p.id: p for p in passages}
        names: dict[str, str] = {}
        contexts: set[tuple[str, str]] = set()
        facts: dict[str, dict] = {}
        for p, ex in zip(passages, extractions):
            for name in ex.entities + [x for s, _, o in ex.triples for x in (s, o)]:
                key = normalize(name)
                names.setdefault(key, name.strip())
                contexts.add((p.id, key))
            for s, r, o in ex.triples:
                sk, rk, ok = normalize(s), " ".join(r.lower().split()), normalize(o)
                fid = "f-" + hashlib.sha256(f"{sk}\x00{rk}\x00{ok}".encode()).hexdigest()[:16]
                fact = facts.setdefault(fid, {
                    "id": fid, "text": f"{s} {r} {o}", "s": sk, "r": rk, "o": ok,
                    "surface": [s, r, o], "relation": normalize_relation(r), "passages": [],
                })
                if p.id not in fact["passages"]:
                    fact["passages"].append(p.id)
        ent_keys = sorted(names)
        relations = sorted({f["relation"] for f in facts.values()})
        known = [self.ledger.relation_vector(r) for r in relations]
        fresh = [r for r, v in zip(relations, known) if v is None]
        fresh_vectors = dict(zip(fresh, self.embedder.encode(fresh))) if fresh else {}
        vectors = {
            "passages": self._vectors(self.passages, list(uniq), [p.text for p in uniq.values()]),
            "entities": self._vectors(self.entities, [entity_node(k) for k in ent_keys], [names[k] for k in ent_keys]),
            "facts": self._vectors(self.facts, list(facts), [f["text"] for f in facts.values()]),
            "relations": np.asarray(
                [v if v is not None else fresh_vectors[r] for r, v in zip(relations, known)], dtype=np.float32
            ).reshape(len(relations), self.embedder.dim),
        }
        new = [i for i, k in enumerate(ent_keys) if not self.graph.has_entity(k)]
        created_at = time.time()
        record = {
            "id": ingest_id,
            "created_at": created_at,
            "valid_from": valid_from or utc_time(created_at),
            "replaces": replaces,
            "relations": relations,
            "passages": [{"id": p.id, "text": p.text, "metadata": p.metadata} for p in uniq.values()],
            "entities": [{"key": k, "name": names[k]} for k in ent_keys],
            "contexts": sorted(contexts),
            "facts": list(facts.values()),
            "synonyms": self._synonyms([ent_keys[i] for i in new], vectors["entities"][new]),
        }
        return record, vectors

    def _vectors(self, index: VectorIndex, keys: list[str], texts: list[str]) -> np.ndarray:
        """Vectors for keys: reused from the index when present, embedded otherwise."""
        out = np.zeros((len(keys), self.embedder.dim), dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in index]
        for i, k in enumerate(keys):
            if k in index:
                out[i] = index.vector(k)
        if missing:
            out[missing] = self.embedder.encode([texts[i] for i in missing])
        return out

    def _synonyms(self, keys: list[str], vecs: np.ndarray) -> list[list]:
        """kNN of the new entities against all entities (existing and new): cost ~ new entities."""
        cfg = self.config
        ok = [i for i, k in enumerate(keys) if len(k.replace(" ", "")) >= cfg.synonym_min_chars]
        if not ok:
            return []
        keys, vecs = [keys[i] for i in ok], vecs[ok]
        pairs: dict[tuple[str, str], float] = {}
        known = self.neighbours.search_above(vecs, cfg.synonym_threshold, cfg.synonym_top_k)
        fresh = self._near_fresh(vecs)
        for i, a in enumerate(keys):
            for b, sim in [(node[2:], score) for node, score in known[i]] + [(keys[j], sim) for j, sim in fresh[i]]:
                if a != b and len(b.replace(" ", "")) >= cfg.synonym_min_chars:
                    pair = (min(a, b), max(a, b))
                    pairs[pair] = max(pairs.get(pair, 0.0), sim)
        return [[a, b, round(s, 6)] for (a, b), s in sorted(pairs.items())]

    def _near_fresh(self, vecs: np.ndarray, block: int = 512) -> list[list[tuple[int, float]]]:
        """Per row of `vecs` (this ingest's new entities, not yet indexed): near rows, best first."""
        cfg, out = self.config, []
        for start in range(0, len(vecs), block):
            for sims in vecs[start : start + block] @ vecs.T:
                near = np.flatnonzero(sims >= cfg.synonym_threshold)
                near = near[np.argsort(-sims[near], kind="stable")][: cfg.synonym_top_k]
                out.append([(int(j), float(sims[j])) for j in near])
        return out

    # ---- apply / remove ----------------------------------------------------------------------
    def _apply(self, record: dict, vectors: dict[str, np.ndarray], recompute: bool = True) -> None:
        """Add one ingest record to the graph, the indexes and the fact ledger (`recompute=False`:
        the caller recomputes the lifecycle once after a batch, as the journal replay does)."""
        ingest_id = record["id"]
        g = self.graph
        self.passages.add([p["id"] for p in record["passages"]], vectors["passages"])
        for p in record["passages"]:
            self.passage_data.setdefault(p["id"], Passage(p["id"], p["text"], p["metadata"]))
            g.add_passage(p["id"], ingest_id)
        self.entities.add([entity_node(e["key"]) for e in record["entities"]], vectors["entities"])
        self.neighbours.add([entity_node(e["key"]) for e in record["entities"]], vectors["entities"])
        for e in record["entities"]:
            g.add_entity(e["key"], e["name"], ingest_id)
        for pid, key in record["contexts"]:
            g.add_context(pid, key, ingest_id)
        self.facts.add([f["id"] for f in record["facts"]], vectors["facts"])
        for f in record["facts"]:
            self.fact_data.setdefault(f["id"], dict(f, support=set()))["support"].add(ingest_id)
            g.add_relation(f["s"], f["r"], f["o"], ingest_id)
        for a, b, sim in record["synonyms"]:
            g.add_synonym(a, b, sim)
        if "relations" in record:
            relations = dict(zip(record["relations"], vectors["relations"]))
        else:  # recorded before the fact lifecycle: embed its relations once
            names = sorted({normalize_relation(f["r"]) for f in record["facts"]})
            relations = dict(zip(names, self.embedder.encode(names))) if names else {}
        self.ledger.add(record, relations, recompute)
        self.records[ingest_id] = record

    def remove(self, ingest_id: str) -> bool:
        """Remove exactly what one ingest added; False if it is unknown (or already removed)."""
        with self._lock:
            record = self.records.get(ingest_id)
            if record is None:
                return False
            if self.journal is not None:
                self.journal.remove(ingest_id)
            gone = self.graph.remove_support(
                ingest_id,
                [p["id"] for p in record["passages"]],
                [e["key"] for e in record["entities"]],
                [tuple(c) for c in record["contexts"]],
                [(f["s"], f["r"], f["o"]) for f in record["facts"]],
            )
            self.entities.remove([entity_node(k) for k in gone])
            self.neighbours.remove([entity_node(k) for k in gone], self.entities)
            dropped = [p["id"] for p in record["passages"] if not self.graph.has_passage(p["id"])]
            self.passages.remove(dropped)
            for pid in dropped:
                del self.passage_data[pid]
            dead = []
            for f in record["facts"]:
                support = self.fact_data[f["id"]]["support"]
                support.discard(ingest_id)
                if not support:
                    dead.append(f["id"])
                    del self.fact_data[f["id"]]
            self.facts.remove(dead)
            self.ledger.remove(ingest_id)
            del self.records[ingest_id]
            return True

    # ---- inspection --------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        with self._lock:
            s = self.graph.stats()
            current, superseded = self.ledger.counts()
            return {
                "passages": s["passages"], "entities": s["entities"], "triples": len(self.fact_data), "edges": s["edges"],
                "facts_current": current, "facts_superseded": superseded,
            }

    def ingest_ids(self) -> list[str]:
        with self._lock:
            return list(self.records)

    def snapshot(self) -> dict:
        """Plain-data view of graph, indexes and stores; equal snapshots mean identical memories."""
        with self._lock:
            nodes, edges = self.graph.signature()
            return {
                "nodes": nodes,
                "edges": edges,
                "passages": self.passages.contents(),
                "entities": self.entities.contents(),
                "facts": self.facts.contents(),
                "fact_data": {k: {**v, "support": frozenset(v["support"])} for k, v in self.fact_data.items()},
                "passage_data": {k: (p.text, repr(p.metadata)) for k, p in self.passage_data.items()},
                "lifecycle": self.ledger.snapshot(),
            }
