"""Weight edits: ``POST /v1/edits`` (ROME, one fact) and ``POST /v1/edits/batch`` (MEMIT/AlphaEdit)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from editing.request import EditRequest
from serving.core.history import HistoryEntry

from ..deps import RuntimeDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/edits", tags=["edits"], responses=error_responses(409, 503))


class EditIn(BaseModel):
    prompt: str = Field(min_length=1)
    subject: str
    target_new: str
    target_true: str | None = None

    def request(self) -> EditRequest:
        return EditRequest(self.prompt, self.subject, self.target_new, self.target_true)


class SingleEditIn(EditIn):
    layer: int | None = None


class BatchIn(BaseModel):
    edits: list[EditIn] = Field(min_length=1, max_length=2000)
    layers: list[int] | None = None


class EditOut(BaseModel):
    entry: HistoryEntry
    before: dict[str, float]
    """p(target_new) (and p(target_true)) before the edit."""
    after: dict[str, float]


class BatchOut(BaseModel):
    entry: HistoryEntry
    before: list[dict[str, float]]
    after: list[dict[str, float]]


@router.post("", status_code=201)
def create_edit(body: SingleEditIn, rt: RuntimeDep) -> EditOut:
    """Write one fact with ROME; 201 with the entry and p(target) before and after, or 422
    (``type: "regression_guard"``) when the guard rejected and reverted it."""
    outcome = rt.edits.edit(body.request(), body.layer)
    return EditOut(entry=outcome.entry, before=outcome.before[0], after=outcome.after[0])


@router.post("/batch", status_code=201)
def create_batch(body: BatchIn, rt: RuntimeDep) -> BatchOut:
    """Write many facts at once over several layers; one history entry for the batch (422 as above)."""
    outcome = rt.edits.batch([e.request() for e in body.edits], body.layers)
    return BatchOut(entry=outcome.entry, before=outcome.before, after=outcome.after)
