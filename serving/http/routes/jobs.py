"""Background jobs' progress."""

from __future__ import annotations

from fastapi import APIRouter

from serving.core.jobs import Job

from ..deps import EngineDep

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}")
def get_job(job_id: str, engine: EngineDep) -> Job:
    return engine.jobs.get(job_id)
