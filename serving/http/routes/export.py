"""Export the current model for serving elsewhere (vLLM, Ray Serve LLM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from serving.core.export import export

from ..deps import EngineDep

router = APIRouter(prefix="/v1/export", tags=["export"])


class ExportRequest(BaseModel):
    path: str
    """An absolute directory on the server's machine; must not exist or be empty."""


class ExportSummary(BaseModel):
    path: str
    fingerprint: str
    """The fingerprint of the weights written to ``merged/``."""
    adapters: dict[str, dict[str, Any]]
    """Per adapter folder: modules, max_rank, ranks, skipped."""


@router.post("", status_code=201)
def export_model(req: ExportRequest, engine: EngineDep) -> ExportSummary:
    return ExportSummary(**export(engine, Path(req.path)))
