"""Skills: ``POST /v1/skills`` trains a LoRA skill (from examples or raw text) in a background job;
``GET /v1/skills`` lists them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from serving.core.jobs import Job
from serving.services.skills import ReplayOptions

from ..deps import RuntimeDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/skills", tags=["skills"], responses=error_responses(409))


class SkillRequest(BaseModel):
    name: str
    examples: list[dict[str, Any]] = Field(default_factory=list, description="input/output pairs (or give text)")
    text: str | None = Field(None, description="a domain's raw text, learned with the language-modelling loss")
    instruction: str | None = None
    replay: ReplayOptions = Field(default_factory=ReplayOptions)
    training: dict[str, Any] = Field(default_factory=dict, description="SkillConfig overrides, e.g. epochs, lr, rank")


class JobOut(BaseModel):
    job: Job


class SkillInfo(BaseModel):
    name: str
    entry_id: str | None
    status: str
    created_at: str | None
    instruction: str | None
    n_examples: int
    keep_data: bool
    raw: bool = False
    """Learned from raw text."""
    rehearsal: str
    """"real", "synthetic" (SSR) or "demos"."""
    rehearsal_size: int
    adapter_dir: str


class SkillList(BaseModel):
    skills: list[SkillInfo]


@router.post("", status_code=202)
def learn_skill(req: SkillRequest, rt: RuntimeDep) -> JobOut:
    return JobOut(job=rt.skills.submit(req.name, req.examples, req.instruction, req.replay, req.training, req.text))


@router.get("")
def list_skills(rt: RuntimeDep) -> SkillList:
    return SkillList(skills=[SkillInfo(**s) for s in rt.skills.list()])
