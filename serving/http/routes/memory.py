"""Graph memory: ingest documents and facts, search, stats; revert goes through the history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from memory.store import Document
from serving.core.errors import InvalidInputError
from serving.core.history import HistoryEntry

from ..deps import RuntimeDep

router = APIRouter(prefix="/v1/memory", tags=["memory"])


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


class DocumentsResult(BaseModel):
    entry: HistoryEntry
    passages: int
    entities: int
    triples: int


class FactsResult(BaseModel):
    entry: HistoryEntry


class PassageHit(BaseModel):
    id: str
    text: str
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)


class SearchResult(BaseModel):
    results: list[PassageHit]


@router.post("/documents", status_code=201)
def add_documents(req: DocumentsRequest, rt: RuntimeDep) -> DocumentsResult:
    entry, result = rt.memory.add_documents([Document(d.text, d.id, d.metadata) for d in req.documents])
    return DocumentsResult(entry=entry, passages=result.passages, entities=result.entities, triples=result.triples)


@router.post("/facts", status_code=201)
def add_facts(req: FactsRequest, rt: RuntimeDep) -> FactsResult:
    entry, _ = rt.memory.add_facts([(f.subject, f.relation, f.object) for f in req.facts])
    return FactsResult(entry=entry)


@router.get("/search")
def search(
    rt: RuntimeDep, q: str = Query(min_length=1, max_length=4000), k: int = Query(5, ge=1, le=100)
) -> SearchResult:
    if not q.strip():
        raise InvalidInputError("q must not be blank")
    return SearchResult(results=[PassageHit(**h) for h in rt.memory.search(q, k)])


@router.get("/stats")
def stats(rt: RuntimeDep) -> dict[str, int]:
    return rt.memory.stats()
