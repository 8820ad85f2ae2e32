"""What bench/hostile_http.py measures around every request, also loaded into schemathesis as its
hooks module (``SCHEMATHESIS_HOOKS=hostile_hooks``). Standard library only: it runs in
schemathesis's own environment.

For each request: the server's state before and after (weights, history, memory, skills, exports),
waiting first for any job the request started; one JSON line per request goes to ``$BENCH_LOG``:
``{"method", "path", "status", "changed"}``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

STATE_PATHS = ("/v1/state", "/v1/history", "/v1/memory/stats", "/v1/skills")
FINISHED = ("done", "failed", "cancelled")


def get(url: str, key: str, path: str) -> Any:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def state(url: str, key: str, home: Path) -> list[Any]:
    """Everything a request could change: weights and applied ids, history rows, memory counts,
    skills, and the files under the export folder."""
    exports = home / "exports"
    files = sorted(str(p.relative_to(exports)) for p in exports.rglob("*")) if exports.exists() else []
    return [get(url, key, path) for path in STATE_PATHS] + [files]


def wait_for_job(url: str, key: str, body: Any, timeout: float = 600) -> None:
    """A 202 answer names a job: wait until it finishes, so that its change is counted for this request."""
    job = body.get("job") if isinstance(body, dict) else None
    if not isinstance(job, dict) or "id" not in job:
        return
    deadline = time.monotonic() + timeout
    while get(url, key, f"/v1/jobs/{job['id']}")["status"] not in FINISHED:
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job['id']} did not finish in {timeout} s")
        time.sleep(0.2)


def record(log: Path, method: str, path: str, status: int, changed: bool) -> None:
    with log.open("a") as f:
        f.write(json.dumps({"method": method, "path": path, "status": status, "changed": changed}) + "\n")


# ---- schemathesis hooks (loaded only inside schemathesis) ----------------------------------------
try:
    import schemathesis
except ImportError:
    schemathesis = None

if schemathesis is not None:
    _ENV = (os.environ.get("BENCH_URL", ""), os.environ.get("BENCH_KEY", ""), Path(os.environ.get("BENCH_HOME", ".")))
    _before: dict[int, list[Any]] = {}

    @schemathesis.hook
    def before_call(context, case, kwargs) -> None:
        _before[id(case)] = state(*_ENV)

    @schemathesis.hook
    def after_call(context, case, response) -> None:
        url, key, home = _ENV
        before = _before.pop(id(case), None)
        if response.status_code == 202:
            try:
                wait_for_job(url, key, response.json())
            except ValueError:
                pass
        changed = before is not None and response.status_code >= 400 and state(url, key, home) != before
        record(Path(os.environ["BENCH_LOG"]), case.method, case.formatted_path, response.status_code, changed)
