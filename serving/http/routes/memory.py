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
    replaces: bool | None = None
    """Supersede each subject's current object of the same relation (default: decided by the relation)."""
    valid_from: str | None = None
    """ISO-8601 time the facts hold from (default: now)."""


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


class FactOut(BaseModel):
    id: str
    subject: str
    relation: str
    object: str
    score: float
    """Raw cosine of the query with "subject relation object"."""
    valid_from: str
    invalid_from: str | None
    superseded_by: str | None


class SearchResult(BaseModel):
    results: list[PassageHit]
    facts: list[FactOut] = Field(default_factory=list)
    """The facts valid at ``as_of`` (default: the current ones), best first."""


@router.post("/documents", status_code=201)
def add_documents(req: DocumentsRequest, rt: RuntimeDep) -> DocumentsResult:
    entry, result = rt.memory.add_documents([Document(d.text, d.id, d.metadata) for d in req.documents])
    return DocumentsResult(entry=entry, passages=result.passages, entities=result.entities, triples=result.triples)


@router.post("/facts", status_code=201)
def add_facts(req: FactsRequest, rt: RuntimeDep) -> FactsResult:
    entry, _ = rt.memory.add_facts([(f.subject, f.relation, f.object) for f in req.facts], req.replaces, req.valid_from)
    return FactsResult(entry=entry)


@router.get("/search")
def search(
    rt: RuntimeDep,
    q: str = Query(min_length=1, max_length=4000),
    k: int = Query(5, ge=1, le=100),
    as_of: str | None = Query(None, max_length=64, description="ISO-8601: what the memory held then"),
) -> SearchResult:
    if not q.strip():
        raise InvalidInputError("q must not be blank")
    passages = [PassageHit(**h) for h in rt.memory.search(q, k, as_of)]
    facts = [FactOut(**{f: getattr(h, f) for f in FactOut.model_fields}) for h in rt.memory.search_facts(q, k, as_of)]
    return SearchResult(results=passages, facts=facts)


@router.get("/stats")
def stats(rt: RuntimeDep) -> dict[str, int]:
    return rt.memory.stats()
