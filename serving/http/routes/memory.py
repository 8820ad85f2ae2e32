"""Graph memory: ingest documents and facts, search, stats; revert goes through the history."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from memory.store import Document
from serving.core.errors import InvalidInputError
from serving.core.history import HistoryEntry

from ..deps import RuntimeDep
from ..errors import error_responses

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


class StoredFact(BaseModel):
    """A stored fact with its lifetime; ``invalid_from`` and ``superseded_by`` are null while it is current."""

    id: str
    ingest_id: str
    subject: str
    relation: str
    object: str
    valid_from: str
    invalid_from: str | None
    superseded_by: str | None


class EntityRef(BaseModel):
    key: str
    """The entity's key (lower case, punctuation dropped): what ``/v1/memory/entities/{name}`` takes."""
    name: str


class PassageView(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any]
    entities: list[EntityRef]
    facts: list[StoredFact]


class GraphNode(BaseModel):
    id: str
    """``e:<entity key>`` or ``p:<passage id>``."""
    kind: Literal["entity", "passage"]
    label: str


class GraphEdge(BaseModel):
    source: str
    target: str
    kind: Literal["relation", "synonym", "passage"]
    """The first that applies: the edge carries relations, joins synonyms, or joins a passage to an entity it names."""
    relations: list[str]
    synonym: float | None
    """The two entities' cosine, for a synonym edge."""
    passage: bool
    weight: float


class Neighbourhood(BaseModel):
    key: str
    name: str
    nodes: list[GraphNode]
    """The entity first, then its neighbours, strongest edge first."""
    edges: list[GraphEdge]
    """Every edge among the nodes."""
    facts: list[StoredFact]
    """Every fact whose subject or object is the entity, superseded ones included, oldest first."""


class Grounding(BaseModel):
    grounded: bool
    citations: list[dict[str, Any]]
    """As in a chat response's ``palimpsest.citations``: ``{"type": "fact"|"passage", "id", "text", "score", ...}``."""


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


@router.get("/grounding")
def grounding(
    rt: RuntimeDep,
    q: str = Query(min_length=1, max_length=4000),
    k: int = Query(3, ge=1, le=20),
    memory: bool | None = Query(None, description="as in chat: true forces grounding, false turns it off; absent: the gate decides"),
) -> Grounding:
    """The facts and passages a chat question ``q`` would be grounded in, with their scores."""
    if not q.strip():
        raise InvalidInputError("q must not be blank")
    citations = rt.chat.retrieve(q, memory, k).citations()
    return Grounding(grounded=bool(citations), citations=citations)


@router.get("/passages/{pid:path}", responses=error_responses(404))
def passage(pid: str, rt: RuntimeDep) -> PassageView:
    """A stored passage, the entities it names and the facts it states."""
    return PassageView(**rt.memory.passage(pid))


@router.get("/entities/{name:path}", responses=error_responses(404))
def entity(name: str, rt: RuntimeDep, limit: int = Query(30, ge=1, le=200)) -> Neighbourhood:
    """An entity's neighbourhood graph (its ``limit`` strongest neighbours) and every fact about it."""
    return Neighbourhood(**rt.memory.neighbourhood(name, limit))
