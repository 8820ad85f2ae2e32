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

from memory.embed import Embedder
from memory.extract import Extraction, Extractor, ground, normalize, sanitize
from memory.graph import GraphMatrix, MemoryGraph, entity_node
from memory.index import NeighbourIndex, VectorIndex
from memory.journal import IngestJournal, check_ingest_id
from memory.retrieve import RetrievalConfig, entity_seeds, minmax, personalized_pagerank, row_max

Progress = Callable[[float, str], None]


class MemoryInputError(ValueError):
    """The caller's input cannot be ingested (empty, conflicting ids, ...)."""


class DocumentTooLargeError(MemoryInputError):
    """A document exceeds `MemoryConfig.max_document_chars`."""


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
    extract_batch: int = 8
    """Passages extracted per call (progress is reported after each)."""
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.synonym_threshold <= 1.0:
            raise ValueError("synonym_threshold must be in (0, 1]")
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


class GraphMemory:
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
        self._fact_rows: tuple[list[str], list[str], GraphMatrix, sp.csr_matrix] | None = None
        self.journal = IngestJournal(Path(root)) if root is not None else None
        if self.journal is not None:
            for ingest_id in self.journal.live_ids():
                self._apply(*self.journal.read(ingest_id))

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

    def ingest_facts(self, facts: list[tuple[str, str, str]], ingest_id: str | None = None) -> IngestResult:
        """Stated facts skip extraction: each becomes a one-sentence passage with its triple."""
        passages, extractions = [], []
        for fact in facts:
            if len(fact) != 3 or not all(isinstance(x, str) and normalize(x) for x in fact):
                raise MemoryInputError("every fact needs a non-empty subject, relation and object")
            s, r, o = (x.strip() for x in fact)
            text = f"{s} {r} {o}."
            passages.append(Passage(passage_id(text), text, {"fact": [s, r, o]}))
            extractions.append(Extraction([s, o], [(s, r, o)]))
        return self.ingest_passages(passages, extractions=extractions, ingest_id=ingest_id)

    def ingest_passages(
        self,
        passages: list[Passage],
        extractions: list[Extraction] | None = None,
        ingest_id: str | None = None,
        progress: Progress | None = None,
        grounded: bool = True,
    ) -> IngestResult:
        """Ingest passages as one unit (one ingest id); extraction runs unless given.

        `grounded=False` keeps given triples whose arguments are paraphrased rather than quoted
        (trusted external OpenIE, e.g. HippoRAG's own files); malformed triples are still dropped.
        """
        start = time.perf_counter()
        if not passages:
            raise MemoryInputError("nothing to ingest")
        ingest_id = check_ingest_id(ingest_id or "mem-" + uuid.uuid4().hex[:12])
        if ingest_id in self.records:
            raise MemoryInputError(f"ingest id {ingest_id!r} already exists")
        if extractions is None:
            extractions = self._extract([p.text for p in passages], progress)
        elif len(extractions) != len(passages):
            raise MemoryInputError("need one extraction per passage")
        extractions = [ground(e, p.text) if grounded else sanitize(e) for e, p in zip(extractions, passages)]
        with self._lock:
            for p in passages:
                known = self.passage_data.get(p.id)
                if known is not None and known.text != p.text:
                    raise MemoryInputError(f"passage id {p.id!r} is already used by a different text")
            record, vectors = self._build_record(ingest_id, passages, extractions)
            if self.journal is not None:
                self.journal.add(record, vectors)
            self._apply(record, vectors)
        if progress:
            progress(1.0, "ingested")
        return IngestResult(
            ingest_id, len(record["passages"]), len(record["entities"]), len(record["facts"]), time.perf_counter() - start
        )

    def _extract(self, texts: list[str], progress: Progress | None) -> list[Extraction]:
        out: list[Extraction] = []
        step = self.config.extract_batch
        for i in range(0, len(texts), step):
            out += self.extractor.extract(texts[i : i + step])
            if progress:
                progress(0.9 * min(i + step, len(texts)) / len(texts), f"extracted {min(i + step, len(texts))}/{len(texts)} passages")
        return out

    def _build_record(self, ingest_id: str, passages: list[Passage], extractions: list[Extraction]) -> tuple[dict, dict]:
        """Everything one ingest adds, with vectors; synonym edges only for its new entities."""
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
                facts.setdefault(fid, {"id": fid, "text": f"{s} {r} {o}", "s": sk, "r": rk, "o": ok})
        ent_keys = sorted(names)
        vectors = {
            "passages": self._vectors(self.passages, list(uniq), [p.text for p in uniq.values()]),
            "entities": self._vectors(self.entities, [entity_node(k) for k in ent_keys], [names[k] for k in ent_keys]),
            "facts": self._vectors(self.facts, list(facts), [f["text"] for f in facts.values()]),
        }
        new = [i for i, k in enumerate(ent_keys) if not self.graph.has_entity(k)]
        record = {
            "id": ingest_id,
            "created_at": time.time(),
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
    def _apply(self, record: dict, vectors: dict[str, np.ndarray]) -> None:
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
            del self.records[ingest_id]
            return True

    # ---- retrieval ---------------------------------------------------------------------------
    def search(self, query: str, k: int = 5) -> list[dict]:
        """Top-k passages by Personalized PageRank: [{"id", "text", "score"}]."""
        q = self.embedder.encode([query])[0]
        with self._lock:
            return self._rank(q, k, graph=True)

    def dense_search(self, query: str, k: int = 5) -> list[dict]:
        """The dense-only baseline: passages ranked by cosine with the query."""
        q = self.embedder.encode([query])[0]
        with self._lock:
            return self._rank(q, k, graph=False)

    def _rank(self, q: np.ndarray, k: int, graph: bool) -> list[dict]:
        cfg = self.config.retrieval
        pids, dense = self.passages.all_scores(q)
        if not pids:
            return []
        seeds: dict[str, float] = {}
        if graph and len(self.facts):
            fids, cosine = self.facts.all_scores(q)
            fscores = cosine
            if cfg.fact_context_weight:
                fscores = cosine + cfg.fact_context_weight * row_max(self._fact_passages(fids, pids), dense)
            top = _top(fscores, cfg.linking_top_k)
            low, high = float(fscores.min()), float(fscores.max())
            matched = [
                (float(minmax(fscores[i], low, high)), self.fact_data[fids[i]]["s"], self.fact_data[fids[i]]["o"])
                for i in top
                if cosine[i] >= cfg.min_fact_score
            ]
            ends = {key for _, s, o in matched for key in (s, o)}
            seeds = entity_seeds(matched, {e: self.graph.passage_count(e) for e in ends}, cfg.linking_top_k)
        if not seeds:
            order = _top(dense, k)
            return [self._hit(pids[i], float(dense[i])) for i in order]
        m = self.graph.matrix()
        reset = np.zeros(len(m.nodes))
        for key, weight in seeds.items():
            reset[m.index[entity_node(key)]] += weight
        rows = m.passage_rows_for(pids)
        reset[rows] += minmax(dense, float(dense.min()), float(dense.max())) * cfg.passage_node_weight
        ppr = personalized_pagerank(m, reset, cfg.damping, cfg.ppr_tol, cfg.ppr_max_iter)
        prow = m.passage_rows
        best = prow[_top(ppr[prow], k)]
        return [self._hit(m.nodes[i][2:], float(ppr[i])) for i in best]

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

    # ---- inspection --------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        with self._lock:
            s = self.graph.stats()
            return {"passages": s["passages"], "entities": s["entities"], "triples": len(self.fact_data), "edges": s["edges"]}

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
            }



def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties: lower index first)."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.lexsort((np.arange(len(scores)), -scores))
