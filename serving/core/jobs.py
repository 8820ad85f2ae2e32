"""Background jobs (skill training and other long work), run one at a time, with progress.

Every change of a job's status is written to the history database, so a job outlives the process
that ran it: after a restart, a job that was queued or running is ``failed`` with the error
"interrupted". Progress and messages between two status changes live only in memory.
A job is cancelled with :meth:`JobRunner.cancel`: a queued one never starts, a running one stops
at its next ``progress`` call, which raises :class:`JobCancelled`.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel

from .errors import ConflictError, NotFoundError, PalimpsestError
from .history import History, HistoryEntry

log = logging.getLogger("palimpsest.jobs")

Progress = Callable[[float, str], None]
"""``progress(fraction in [0, 1], message)``; raises :class:`JobCancelled` once the job is cancelled."""

INTERRUPTED = "interrupted"
"""The error of a job whose server stopped before it finished."""

FINISHED = ("done", "failed", "cancelled")


class Job(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"] = "queued"
    progress: float = 0.0
    message: str = ""
    created_at: str
    entry: HistoryEntry | None = None
    """The job's history entry: the change it made (done), or the one the regression guard reverted."""
    error: str | None = None


class JobNotFoundError(NotFoundError):
    """No job has this id."""


class JobFinishedError(ConflictError):
    """The job has already finished; there is nothing to cancel."""


class JobCancelled(PalimpsestError):
    """Raised inside a running job by its ``progress`` callback after :meth:`JobRunner.cancel`."""


class JobRunner:
    """A single worker thread: training jobs share the one model and run in submission order."""

    def __init__(self, history: History) -> None:
        self._history = history
        self._jobs: dict[str, Job] = {}
        self._futures: dict[str, Future[None]] = {}
        self._cancel: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="palimpsest-job")
        lost = history.fail_unfinished_jobs(INTERRUPTED)
        if lost:
            log.warning("%d job(s) were interrupted by the last shutdown and are marked failed", lost)

    def _store(self, job: Job) -> None:
        self._history.put_job({**job.model_dump(exclude={"entry", "progress"}),
                               "entry_id": job.entry.id if job.entry else None})

    def submit(self, kind: str, fn: Callable[[Progress], HistoryEntry]) -> Job:
        job = Job(id=f"job-{uuid.uuid4().hex[:12]}", kind=kind,
                  created_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
        with self._lock:
            self._store(job)
            self._jobs[job.id] = job
            self._futures[job.id] = self._pool.submit(self._run, job.id, fn)
        return job.model_copy()

    def _update(self, job_id: str, **fields: object) -> Job:
        """Change a job in memory; a new status (or a result) is also written to the database."""
        with self._lock:
            job = self._jobs[job_id].model_copy(update=fields)
            self._jobs[job_id] = job
            if "status" in fields:
                self._store(job)
            return job

    def _run(self, job_id: str, fn: Callable[[Progress], HistoryEntry]) -> None:
        def progress(fraction: float, message: str = "") -> None:
            if job_id in self._cancel:
                raise JobCancelled(f"job {job_id} was cancelled")
            self._update(job_id, progress=min(max(float(fraction), 0.0), 1.0), message=message)

        try:
            if job_id in self._cancel:
                raise JobCancelled(f"job {job_id} was cancelled")
            self._update(job_id, status="running")
            entry = fn(progress)
        except JobCancelled:
            log.info("job %s cancelled", job_id)
            self._update(job_id, status="cancelled", error="cancelled")
        except Exception as exc:  # a failed job reports why; the server keeps running
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            entry = getattr(exc, "entry", None)
            self._update(job_id, status="failed", error=f"{type(exc).__name__}: {exc}",
                         entry=HistoryEntry(**entry) if isinstance(entry, dict) else None)
        else:
            self._update(job_id, status="done", progress=1.0, entry=entry)
        finally:
            with self._lock:
                self._futures.pop(job_id, None)
                self._cancel.discard(job_id)

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id in self._jobs:
                return self._jobs[job_id].model_copy()
        row = self._history.get_job(job_id)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        entry_id = row.pop("entry_id")
        return Job(**row, entry=self._history.get(entry_id) if entry_id else None)

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one at its next progress report.

        Returns the job as it is now (a running job stays ``running`` until it stops)."""
        with self._lock:
            future = self._futures.get(job_id)
            if future is not None and self._jobs[job_id].status not in FINISHED:
                if future.cancel():
                    del self._futures[job_id]
                    update = {"status": "cancelled", "error": "cancelled", "message": "cancelled before it started"}
                else:
                    self._cancel.add(job_id)
                    update = {"message": "cancelling"}
                job = self._jobs[job_id].model_copy(update=update)
                self._jobs[job_id] = job
                if "status" in update:
                    self._store(job)
                return job.model_copy()
        job = self.get(job_id)  # finished, or run by an earlier process
        raise JobFinishedError(f"job {job_id} has already finished ({job.status})")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
