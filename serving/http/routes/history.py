"""The edit history: list, show, revert."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.core.history import HistoryEntry

router = APIRouter()


@router.get("/v1/history")
def list_history(
    kind: Literal["memory", "edit", "skill"] | None = None,
    status: Literal["applied", "reverted"] | None = None,
    limit: int | None = Query(None, ge=1, le=10_000),
    engine: Engine = Depends(get_engine),
) -> dict:
    """Newest first."""
    entries = engine.history.list(kind=kind, status=status, limit=limit)
    return {"object": "list", "data": [e.model_dump() for e in entries]}


@router.get("/v1/history/{entry_id}")
def get_entry(entry_id: str, engine: Engine = Depends(get_engine)) -> HistoryEntry:
    return engine.history.get(entry_id)


@router.post("/v1/history/{entry_id}/revert")
def revert_entry(entry_id: str, engine: Engine = Depends(get_engine)) -> HistoryEntry:
    """404 unknown id, 409 already reverted; other entries stay applied."""
    return engine.revert(entry_id)
