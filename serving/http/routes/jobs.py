"""Background jobs' progress."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.core.jobs import Job

router = APIRouter()


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, engine: Engine = Depends(get_engine)) -> Job:
    return engine.jobs.get(job_id)
