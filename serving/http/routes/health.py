"""Health, models and the current state of the weights."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from serving.http.deps import get_engine
from serving.core.engine import Engine

router = APIRouter()


@router.get("/healthz")
def healthz(engine: Engine = Depends(get_engine)) -> dict:
    return {"status": "ok", "model": engine.host.model_id, "device": str(engine.host.device)}


@router.get("/v1/models")
def models(engine: Engine = Depends(get_engine)) -> dict:
    return {
        "object": "list",
        "data": [{"id": engine.host.model_id, "object": "model", "created": 0, "owned_by": "palimpsest"}],
    }


@router.get("/v1/state")
def state(engine: Engine = Depends(get_engine)) -> dict:
    return {
        "fingerprint": engine.host.fingerprint(),
        "base_fingerprint": engine.base_fingerprint,
        "applied": engine.applied(),
    }
