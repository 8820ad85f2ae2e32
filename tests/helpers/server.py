"""A real `palimpsest serve` on a free loopback port, and the cache its models live in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
TEST_CACHE = Path(os.environ.get("PALIMPSEST_TEST_CACHE", REPO / ".palimpsest" / "test-cache"))
"""Converted models live here across test runs (the first run converts the GGUF once)."""


def default_model_dir() -> Path:
    """The converted embedded default model (SmolLM2-135M-Instruct), prepared in `TEST_CACHE`."""
    from serving.core.model_loader import prepare_model
    from serving.core.settings import Settings

    return Path(prepare_model(Settings(cache=TEST_CACHE)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_subprocess(home: Path, **env: str) -> Iterator[str]:
    """A real uvicorn server (``palimpsest serve``) on a free loopback port; yields its URL.

    Uses the real default model unless ``PALIMPSEST_MODEL=...`` is given. Stopped with SIGTERM
    (then SIGKILL) on exit; its log is ``home/../server-PORT.log``.
    """
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / f"server-{port}.log"
    full_env = {**os.environ, "PALIMPSEST_HOME": str(home), "PALIMPSEST_CACHE": str(TEST_CACHE),
                "PALIMPSEST_PORT": str(port), "PALIMPSEST_DEVICE": "cpu", **env}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve"], env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not come up in 300 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
