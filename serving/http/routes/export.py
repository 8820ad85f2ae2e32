"""Export the current model for serving elsewhere (vLLM, Ray Serve LLM), under the export directory."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from serving.core.export import export, name_of_path

from ..deps import EngineDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/export", tags=["export"], responses=error_responses(409))


class ExportRequest(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=255)
    """A sub-folder of the export directory (``PALIMPSEST_EXPORT_DIR``); absent or empty."""
    path: str | None = Field(None, min_length=1, max_length=4096)
    """Older shape: an absolute path, accepted only inside the export directory."""

    @model_validator(mode="after")
    def _one_target(self) -> ExportRequest:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of name (a sub-folder of the export directory) or path")
        return self


class ExportSummary(BaseModel):
    path: str
    fingerprint: str
    """The fingerprint of the weights written to ``merged/``."""
    adapters: dict[str, dict[str, Any]]
    """Per adapter folder: modules, max_rank, ranks, skipped."""


@router.post("", status_code=201)
def export_model(req: ExportRequest, engine: EngineDep) -> ExportSummary:
    """400 for a name that leaves the export directory, 409 for a folder that is not empty."""
    name = req.name if req.name is not None else name_of_path(engine.settings, req.path or "")
    return ExportSummary(**export(engine, name))
