"""Which model the evaluation and bench commands load (leaves may not import serving/)."""
from __future__ import annotations

import os
from pathlib import Path


class ModelNotPreparedError(RuntimeError):
    pass


def default_model(model: str | None = None) -> str:
    """`model` if given, else $PALIMPSEST_MODEL, else the converted default model under the cache
    (<$PALIMPSEST_CACHE | $PALIMPSEST_HOME/cache | ~/.palimpsest/cache>/models/SmolLM2-135M-Instruct)."""
    chosen = model or os.environ.get("PALIMPSEST_MODEL")
    if chosen:
        return chosen
    path = default_cache() / "models" / "SmolLM2-135M-Instruct"
    if not path.exists():
        raise ModelNotPreparedError(
            f"no converted default model at {path}: run `palimpsest prepare` once (it converts the "
            "embedded SmolLM2 and prints that path), or pass --model"
        )
    return str(path)


def default_cache() -> Path:
    """$PALIMPSEST_CACHE, else $PALIMPSEST_HOME/cache, else ~/.palimpsest/cache."""
    cache = os.environ.get("PALIMPSEST_CACHE")
    if cache:
        return Path(cache).expanduser()
    return Path(os.environ.get("PALIMPSEST_HOME", "~/.palimpsest")).expanduser() / "cache"


def load(model: str | None = None, device: str = "auto"):
    """(model, tokenizer) in fp32 on `device` ("auto": cuda when available), eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = default_model(model)
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    tok = AutoTokenizer.from_pretrained(path)
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(dev).eval()
    return m, tok


def statistics_id(model, chosen: str | None = None) -> str:
    """The name a model's cached edit statistics are filed under: the last part of `chosen` (the
    path or hub id the command was given), else of the loaded model's own path."""
    return Path(str(chosen or model.config._name_or_path)).name
