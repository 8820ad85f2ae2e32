"""What the benches share: the --model / --threads options, the runtime's one model loader, and a
real server (``start_server``).

    from common import load, model_options      # bench/ is on sys.path when a bench runs
    p = model_options(argparse.ArgumentParser())
    args = p.parse_args()
    host = load(args)                  # serving.core.model_loader, fp32, in a ModelHost
    weights = DeltaWriter(host)        # weight changes only through ModelHost.set_parameters
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import torch

from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.evaluation.host import evaluation_settings, load_host

REPO = Path(__file__).resolve().parents[1]


def model_options(parser: argparse.ArgumentParser, threads: int = 0) -> argparse.ArgumentParser:
    parser.add_argument(
        "--model", default=None, help="path, .gguf file or hub id (default: $PALIMPSEST_MODEL or the embedded default)"
    )
    parser.add_argument("--threads", type=int, default=threads, help="torch CPU threads (0: torch's default)")
    return parser


def settings(args: argparse.Namespace, device: str | None = None) -> Settings:
    """The runtime's settings for ``args.model`` in fp32 (``device`` None: $PALIMPSEST_DEVICE or auto)."""
    return evaluation_settings(model=args.model, device=device)


def load(args: argparse.Namespace, device: str | None = None) -> ModelHost:
    """Set the torch threads, then load ``args.model`` through the runtime's loader."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return load_host(settings(args, device))


def statistics_cache() -> Path:
    """Where the server and the edit evaluation keep edit statistics: <PALIMPSEST cache>/edits."""
    return evaluation_settings().cache_dir / "edits"


def start_server(home: Path, model: str | None, **env: str) -> tuple[subprocess.Popen, str]:
    """A real ``palimpsest serve`` (CPU, free loopback port) over ``home``, once it answers /healthz.

    ``model``: "tiny" (the tests' tiny Llama, saved once beside ``home``, with C = I edits and no
    chat contexts), a path or hub id, or None for the default model. ``env``: more PALIMPSEST_*
    settings. The log goes to ``home/../server.log``; stop it with ``terminate()`` or ``kill()``.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    full = {**os.environ, "PALIMPSEST_HOME": str(home), "PALIMPSEST_PORT": str(port), "PALIMPSEST_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1", **env}
    if model == "tiny":
        sys.path.append(str(REPO))  # tests/ is not installed
        from tests.helpers.models import save_model_dir, tiny_llama

        tiny = home.parent / "tiny"
        if not tiny.exists():
            save_model_dir(tiny_llama(max_position_embeddings=1024), tiny)
        full.update(PALIMPSEST_MODEL=str(tiny), PALIMPSEST_EDIT_COVARIANCE="identity",
                    PALIMPSEST_EDIT_CHAT_CONTEXT="false")
    elif model:
        full["PALIMPSEST_MODEL"] = model
    home.mkdir(parents=True, exist_ok=True)
    log = open(home.parent / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve"], cwd=REPO, env=full,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the server did not start; see {log.name}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.3)


@contextlib.contextmanager
def serving(home: Path, model: str | None, **env: str) -> Iterator[str]:
    """:func:`start_server` for a ``with`` block: its URL, and the server stopped at the end."""
    proc, url = start_server(home, model, **env)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
