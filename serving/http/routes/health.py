"""Health, models and the current state of the weights."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import EngineDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    device: str


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "palimpsest"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class State(BaseModel):
    fingerprint: str
    """Hash of the current weights: equal fingerprints mean bit-identical weights."""
    base_fingerprint: str
    applied: list[str]
    """Ids of the applied history entries, oldest first."""


@router.get("/healthz")
async def healthz(engine: EngineDep) -> Health:
    """Answers on the event loop and takes no lock, so it answers while the model is busy."""
    return Health(model=engine.host.model_id, device=str(engine.host.device))


@router.get("/v1/models")
def models(engine: EngineDep) -> ModelList:
    return ModelList(data=[ModelCard(id=engine.host.model_id)])


@router.get("/v1/state")
def state(engine: EngineDep) -> State:
    return State(fingerprint=engine.host.fingerprint(), base_fingerprint=engine.base_fingerprint,
                 applied=engine.applied())
