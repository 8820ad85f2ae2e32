"""Background jobs (skill training and other long work), run one at a time, with progress."""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel

from .errors import NotFoundError
from .history import HistoryEntry

log = logging.getLogger("palimpsest.jobs")

Progress = Callable[[float, str], None]
"""``progress(fraction in [0, 1], message)``."""


class Job(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"] = "queued"
    progress: float = 0.0
    message: str = ""
    created_at: str
    entry: HistoryEntry | None = None
    error: str | None = None


class JobNotFoundError(NotFoundError):
    """No job has this id (jobs live as long as the server process)."""


class JobRunner:
    """A single worker thread: training jobs share the one model and run in submission order."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="palimpsest-job")

    def submit(self, kind: str, fn: Callable[[Progress], HistoryEntry]) -> Job:
        job = Job(id=f"job-{uuid.uuid4().hex[:12]}", kind=kind,
                  created_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job.id, fn)
        return job.model_copy()

    def _update(self, job_id: str, **fields: object) -> None:
        with self._lock:
            job = self._jobs[job_id]
            self._jobs[job_id] = job.model_copy(update=fields)

    def _run(self, job_id: str, fn: Callable[[Progress], HistoryEntry]) -> None:
        self._update(job_id, status="running")

        def progress(fraction: float, message: str = "") -> None:
            self._update(job_id, progress=min(max(float(fraction), 0.0), 1.0), message=message)

        try:
            entry = fn(progress)
        except Exception as exc:  # a failed job reports why; the server keeps running
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self._update(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        else:
            self._update(job_id, status="done", progress=1.0, entry=entry)

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._jobs:
                raise JobNotFoundError(f"no job {job_id!r}")
            return self._jobs[job_id].model_copy()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
