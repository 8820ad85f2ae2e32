"""``POST /v1/updates``: one entry point; the router picks memory, a weight edit or a skill."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from serving.core.history import HistoryEntry
from serving.core.jobs import Job
from serving.services.routing import Fact
from serving.services.updates import Update

from ..deps import RuntimeDep
from ..errors import error_responses
from ..schemas import Sparse

router = APIRouter(prefix="/v1/updates", tags=["updates"], responses=error_responses(409))


class UpdateFact(BaseModel):
    subject: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    object: str = Field(min_length=1)


class UpdateIn(BaseModel):
    text: str | None = Field(None, min_length=1)
    fact: UpdateFact | None = None
    examples: list[dict[str, Any]] | None = None
    name: str | None = None
    instruction: str | None = None
    route: Literal["auto", "memory", "edit", "skill"] = "auto"
    replaces: bool | None = None
    """For a fact: supersede the subject's current object of the same relation (default: the relation decides)."""

    @model_validator(mode="after")
    def _one_kind(self) -> UpdateIn:
        given = [k for k in ("text", "fact", "examples") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of text, fact or examples")
        if self.examples is not None and not self.name:
            raise ValueError("a skill (examples) needs a name")
        return self


class UpdateOut(Sparse):
    route: str
    reason: str
    entry: HistoryEntry | None = None
    job: Job | None = None
    before: dict[str, float] | None = None
    """For a weight edit: p(target) before and after."""
    after: dict[str, float] | None = None


@router.post("", status_code=201)
def update(body: UpdateIn, rt: RuntimeDep) -> UpdateOut:
    fact = Fact(**body.fact.model_dump()) if body.fact else None
    outcome = rt.updates.apply(Update(body.text, fact, body.examples, body.name, body.instruction, body.route, body.replaces))
    return UpdateOut(route=outcome.route, reason=outcome.reason, entry=outcome.entry, job=outcome.job, **outcome.probs)
