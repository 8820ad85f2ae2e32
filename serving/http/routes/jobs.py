"""Background jobs: progress, and cancellation."""

from __future__ import annotations

from fastapi import APIRouter

from serving.core.jobs import Job

from ..deps import EngineDep
from ..errors import error_responses

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=error_responses(404))


@router.get("/{job_id}")
def get_job(job_id: str, engine: EngineDep) -> Job:
    """Jobs survive a restart; one the restart interrupted is ``failed`` with the error "interrupted"."""
    return engine.jobs.get(job_id)


@router.delete("/{job_id}", responses=error_responses(409))
def cancel_job(job_id: str, engine: EngineDep) -> Job:
    """A queued job is ``cancelled`` at once; a running one stops at its next progress report
    (poll ``GET`` until it is ``cancelled``). 409 when the job has already finished."""
    return engine.jobs.cancel(job_id)
