"""Jobs are kept in the history database: they outlive the process (an interrupted one is failed
with "interrupted") and can be cancelled, queued or running."""

from __future__ import annotations

import threading
import time

import pytest

from serving.core.errors import RegressionGuardError
from serving.core.history import History
from serving.core.jobs import INTERRUPTED, JobFinishedError, JobNotFoundError, JobRunner


def wait(runner: JobRunner, job_id: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while (job := runner.get(job_id)).status in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.01)
    return job


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path)
    yield h
    h.close()


def test_a_finished_job_is_read_back_after_a_restart(history, tmp_path):
    runner = JobRunner(history)
    entry = history.add("memory", "made by the job", {})
    job = runner.submit("skill", lambda progress: entry)
    assert wait(runner, job.id).status == "done"
    runner.shutdown()

    again = JobRunner(reopened := History(tmp_path))
    restored = again.get(job.id)
    assert (restored.status, restored.entry.id, restored.kind) == ("done", entry.id, "skill")
    with pytest.raises(JobNotFoundError):
        again.get("job-unknown")
    reopened.close()


def test_a_job_running_when_the_server_stopped_is_failed_as_interrupted(history, tmp_path):
    runner, started, release = JobRunner(history), threading.Event(), threading.Event()

    def blocking(progress):
        started.set()
        release.wait(10)
        raise RuntimeError("never reached by the restarted server")

    running = runner.submit("skill", blocking)
    queued = runner.submit("skill", lambda progress: None)
    assert started.wait(10)

    restarted = JobRunner(reopened := History(tmp_path))  # a new process on the same database
    for job_id in (running.id, queued.id):
        job = restarted.get(job_id)
        assert (job.status, job.error) == ("failed", INTERRUPTED)
    reopened.close()
    release.set()  # the old process's worker ends before the database closes
    wait(runner, running.id), wait(runner, queued.id)
    runner.shutdown()


def test_cancel_a_queued_and_a_running_job(history):
    runner, started, calls = JobRunner(history), threading.Event(), []

    def long_training(progress):
        started.set()
        while True:
            progress(0.5, "training")
            time.sleep(0.01)

    running = runner.submit("skill", long_training)
    queued = runner.submit("skill", lambda progress: calls.append("ran"))
    assert started.wait(10)

    cancelled = runner.cancel(queued.id)
    assert cancelled.status == "cancelled" and history.get_job(queued.id)["status"] == "cancelled"
    assert runner.cancel(running.id).message == "cancelling"
    job = wait(runner, running.id)
    assert (job.status, job.error) == ("cancelled", "cancelled")
    assert history.get_job(running.id)["status"] == "cancelled"
    assert calls == []
    with pytest.raises(JobFinishedError):
        runner.cancel(running.id)
    with pytest.raises(JobNotFoundError):
        runner.cancel("job-unknown")
    runner.shutdown()


def test_a_job_the_guard_rejected_fails_and_keeps_the_reverted_entry(history):
    runner = JobRunner(history)
    entry = history.add("skill", "rejected", {})
    reverted = history.mark_reverted(entry.id)

    def rejected(progress):
        raise RegressionGuardError("regression guard: 'general' probes dropped 50.0%", reverted.model_dump(), {})

    job = wait(runner, runner.submit("skill", rejected).id)
    assert job.status == "failed" and "regression guard" in job.error
    assert job.entry is not None and job.entry.status == "reverted"
    runner.shutdown()
