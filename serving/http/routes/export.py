"""Export the current model for serving elsewhere (vLLM, Ray Serve LLM)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.http.errors import ApiError
from serving.core.export import ExportError, export

router = APIRouter()


class ExportRequest(BaseModel):
    path: str
    """An absolute directory on the server's machine; must not exist or be empty."""


@router.post("/v1/export", status_code=201)
def export_model(req: ExportRequest, engine: Engine = Depends(get_engine)) -> dict:
    try:
        return export(engine, Path(req.path))
    except ExportError as exc:
        raise ApiError(400, str(exc)) from exc
