"""Where the evaluation commands find the model (leaves do not import serving/)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


class ModelNotPrepared(RuntimeError):
    """The converted default model is missing; `palimpsest prepare` creates it."""


def default_cache_dir() -> Path:
    """PALIMPSEST_CACHE, else $PALIMPSEST_HOME/cache, else ~/.palimpsest/cache."""
    if os.environ.get("PALIMPSEST_CACHE"):
        return Path(os.environ["PALIMPSEST_CACHE"]).expanduser()
    if os.environ.get("PALIMPSEST_HOME"):
        return Path(os.environ["PALIMPSEST_HOME"]).expanduser() / "cache"
    return Path.home() / ".palimpsest" / "cache"


def resolve_model(model: str | None = None) -> str:
    """`model` if given, else PALIMPSEST_MODEL, else the converted default model directory."""
    chosen = model or os.environ.get("PALIMPSEST_MODEL")
    if chosen:
        return chosen
    path = default_cache_dir() / "models" / DEFAULT_MODEL_NAME
    if not (path / "config.json").exists():
        raise ModelNotPrepared(
            f"no converted default model at {path}: run `palimpsest prepare` once (it converts the "
            "embedded model and prints this path), or pass --model PATH"
        )
    return str(path)
