"""Graph memory routes: ingest documents and facts, search, stats; revert through the history."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.http.errors import ApiError
from serving.core.history import HistoryEntry

log = logging.getLogger("palimpsest.memory")
router = APIRouter()


class DocumentIn(BaseModel):
    text: str
    id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentsRequest(BaseModel):
    documents: list[DocumentIn] = Field(min_length=1)


class FactIn(BaseModel):
    subject: str
    relation: str
    object: str


class FactsRequest(BaseModel):
    facts: list[FactIn] = Field(min_length=1)


def install(engine: Engine) -> None:
    """Open the memory under ``home/memory``, hook revert and grounding, drop orphaned ingests."""
    from memory.embed import SentenceTransformerEmbedder
    from memory.extract import CachedExtractor, ExtractionCache, build_extractor
    from memory.store import GraphMemory

    root = engine.settings.home / "memory"
    device = "cuda" if str(engine.host.device).startswith("cuda") else "cpu"
    embedder = SentenceTransformerEmbedder(engine.settings.embedder, device=device)
    if engine.settings.memory_extractor == "llm":
        inner = build_extractor("llm", model=engine.host.model, tokenizer=engine.host.tokenizer, guard=engine.host.reading)
    else:
        inner = build_extractor("rule")
    extractor_id = f"{inner.name}:{engine.settings.model}"
    extractor = CachedExtractor(inner, ExtractionCache(root / "extraction_cache.jsonl"), extractor_id)
    mem = GraphMemory(root, embedder, extractor)
    engine.memory = mem  # type: ignore[attr-defined]

    # An ingest journaled but never recorded (a crash between the two) is not part of the history.
    recorded = {e.details.get("ingest_id") for e in engine.history.list(kind="memory", status="applied")}
    for ingest_id in mem.ingest_ids():
        if ingest_id not in recorded:
            log.warning("removing memory ingest %s: it has no history entry", ingest_id)
            mem.remove(ingest_id)

    def revert(entry: HistoryEntry) -> None:
        mem.remove(entry.details.get("ingest_id", ""))

    def grounding(query: str, k: int) -> list[dict[str, Any]]:
        if not mem.ingest_ids():
            return []
        return [{"id": h["id"], "text": h["text"], "score": h["score"]} for h in mem.search(query, k)]

    engine.on_revert("memory", revert)
    engine.grounding = grounding
    log.info("graph memory at %s: %s", root, mem.stats())


def _memory(engine: Engine):
    mem = getattr(engine, "memory", None)
    if mem is None:
        raise ApiError(503, "the graph memory is not installed on this server", "server_error")
    return mem


def _ingest(engine: Engine, summary: str, run) -> tuple[HistoryEntry, Any]:
    """Ingest under a fresh id, then record it; a failed record undoes the ingest."""
    from memory.store import DocumentTooLargeError, MemoryInputError

    ingest_id = "mem-" + uuid.uuid4().hex[:16]
    try:
        result = run(ingest_id)
    except MemoryInputError as exc:
        raise ApiError(413 if isinstance(exc, DocumentTooLargeError) else 400, str(exc)) from exc
    details = {"ingest_id": ingest_id, "passages": result.passages, "entities": result.entities, "triples": result.triples}
    try:
        entry = engine.record("memory", summary, details)
    except BaseException:
        _memory(engine).remove(ingest_id)
        raise
    return entry, result


@router.post("/v1/memory/documents", status_code=201)
def add_documents(req: DocumentsRequest, engine: Engine = Depends(get_engine)) -> dict[str, Any]:
    from memory.store import Document

    mem = _memory(engine)
    docs = [Document(d.text, d.id, d.metadata) for d in req.documents]
    first = docs[0].id or docs[0].text.strip().split("\n", 1)[0][:60]
    summary = f"memory: {len(docs)} document(s), first: {first}"
    entry, result = _ingest(engine, summary, lambda ingest_id: mem.ingest_documents(docs, ingest_id=ingest_id))
    return {"entry": entry, "passages": result.passages, "entities": result.entities, "triples": result.triples}


@router.post("/v1/memory/facts", status_code=201)
def add_facts(req: FactsRequest, engine: Engine = Depends(get_engine)) -> dict[str, Any]:
    mem = _memory(engine)
    facts = [(f.subject, f.relation, f.object) for f in req.facts]
    s, r, o = facts[0]
    summary = f"memory: {len(facts)} fact(s), first: {s} {r} {o}"
    entry, _ = _ingest(engine, summary, lambda ingest_id: mem.ingest_facts(facts, ingest_id=ingest_id))
    return {"entry": entry}


@router.get("/v1/memory/search")
def search(
    q: str = Query(min_length=1, max_length=4000), k: int = Query(5, ge=1, le=100), engine: Engine = Depends(get_engine)
) -> dict[str, Any]:
    if not q.strip():
        raise ApiError(400, "q must not be blank")
    hits = _memory(engine).search(q, k)
    return {"results": [{"id": h["id"], "text": h["text"], "score": h["score"], "metadata": h["metadata"]} for h in hits]}


@router.get("/v1/memory/stats")
def stats(engine: Engine = Depends(get_engine)) -> dict[str, int]:
    return _memory(engine).stats()
