"""The history: list, show, revert."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from serving.core.history import HistoryEntry

from ..deps import EngineDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/history", tags=["history"], responses=error_responses(404, 409))


class HistoryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[HistoryEntry]


@router.get("")
def list_history(
    engine: EngineDep,
    kind: Literal["memory", "edit", "skill"] | None = None,
    status: Literal["pending", "applied", "reverted"] | None = None,
    limit: int | None = Query(None, ge=1, le=10_000),
) -> HistoryList:
    """Newest first."""
    return HistoryList(data=engine.history.list(kind=kind, status=status, limit=limit))


@router.get("/{entry_id}")
def get_entry(entry_id: str, engine: EngineDep) -> HistoryEntry:
    return engine.history.get(entry_id)


@router.post("/{entry_id}/revert")
def revert_entry(entry_id: str, engine: EngineDep) -> HistoryEntry:
    """404 unknown id, 409 already reverted; other entries stay applied."""
    return engine.revert(entry_id)
