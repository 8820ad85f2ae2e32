"""What the benches share: the --model / --threads options and the runtime's one model loader.

    from common import load, model_options      # bench/ is on sys.path when a bench runs
    p = model_options(argparse.ArgumentParser())
    args = p.parse_args()
    host = load(args)                  # serving.core.model_loader, fp32, in a ModelHost
    weights = DeltaWriter(host)        # weight changes only through ModelHost.set_parameters
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.evaluation.host import evaluation_settings, load_host


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
