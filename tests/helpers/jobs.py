"""Waiting on the server's background jobs (`/v1/jobs/{id}`)."""

from __future__ import annotations

import time

import httpx


def wait_for_job(client: httpx.Client, job: dict, timeout: float = 120, poll: float = 0.1) -> dict:
    """Poll `job` through `client` (an `httpx.Client` or FastAPI `TestClient`) until it leaves
    queued/running; fails after `timeout` seconds. Returns the last job body."""
    deadline = time.monotonic() + timeout
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(poll)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    return job
