"""Second moment C = E[k k^T] of the rewrite modules' keys, computed offline and cached.

Keys come from a text corpus the user points to, or by default from text the model samples
itself (no download). Raw moments are cached as safetensors per (model id, source, layer, size);
the ridge that makes C invertible is added at load time.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from editing.arch import edit_site, module
from editing.config import CovarianceConfig
from editing.hooks import capture, eval_mode, stop_after
from editing.request import Tokenizer

Progress = Callable[[float, str], None]
_STARTS = ("The", "In", "A", "It", "We", "This", "When", "He", "She", "There", "My", "One")


@torch.no_grad()
def second_moment(
    model: nn.Module,
    tokenizer: Tokenizer,
    texts: list[str],
    layers: list[int],
    *,
    max_length: int = 128,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> dict[int, tuple[torch.Tensor, int]]:
    """Uncentred sum of k k^T (float64, d_in x d_in) and token count per layer, over every non-pad
    token of `texts`. The forward pass stops after the deepest requested layer."""
    sites = {layer: edit_site(model, layer) for layer in layers}
    deepest = module(model, sites[max(layers)])
    dev = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    sums: dict[int, torch.Tensor] = {}
    count = 0
    with eval_mode(model):
        for start in range(0, len(texts), batch_size):
            rows = [tokenizer.encode(t, add_special_tokens=True)[:max_length] for t in texts[start : start + batch_size]]
            rows = [r for r in rows if r]
            if not rows:
                continue
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad, device=dev)
            mask = torch.zeros_like(ids, dtype=torch.bool)
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.tensor(r, device=dev)
                mask[i, : len(r)] = True
            with _captures(model, sites) as caps, stop_after(deepest):
                model(input_ids=ids, attention_mask=mask.long(), use_cache=False)
            for layer, cap in caps.items():
                k = cap.inputs[0][mask].double()
                sums[layer] = sums.get(layer, 0) + k.t() @ k
            count += int(mask.sum())
            if progress:
                progress(min(1.0, (start + batch_size) / len(texts)), f"keys of {count} tokens")
    return {layer: (s.cpu(), count) for layer, s in sums.items()}


class _captures:
    """Capture the inputs of several rewrite modules at once."""

    def __init__(self, model: nn.Module, sites: dict) -> None:
        self._cms = {layer: capture(module(model, site)) for layer, site in sites.items()}

    def __enter__(self) -> dict:
        return {layer: cm.__enter__() for layer, cm in self._cms.items()}

    def __exit__(self, *exc) -> None:
        for cm in self._cms.values():
            cm.__exit__(*exc)


@torch.no_grad()
def sample_texts(
    model: nn.Module, tokenizer: Tokenizer, n: int, length: int, *, seed: int = 0, batch_size: int = 16,
    progress: Progress | None = None,
) -> list[str]:
    """`n` texts of `length` tokens sampled by the model from common first words (deterministic)."""
    dev = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    firsts = [tokenizer.encode(w, add_special_tokens=False)[0] for w in _STARTS]
    texts: list[str] = []
    with eval_mode(model), torch.random.fork_rng(devices=[] if dev.type == "cpu" else [dev]):
        torch.manual_seed(seed)
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            ids = torch.tensor([[firsts[(start + i) % len(firsts)]] for i in range(b)], device=dev)
            out = model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=50, top_p=0.95,
                temperature=1.0, max_new_tokens=length - 1, min_new_tokens=length - 1, pad_token_id=pad,
            )
            texts += tokenizer.batch_decode(out, skip_special_tokens=True)
            if progress:
                progress(len(texts) / n, f"sampled {len(texts)}/{n} texts")
    return texts


def read_corpus(path: Path, n: int) -> list[str]:
    """Up to `n` texts from a .txt (blank-line separated paragraphs), .jsonl or .json (strings or
    objects with a "text" field)."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        items = [json.loads(line) for line in raw.splitlines() if line.strip()]
    elif path.suffix == ".json":
        items = json.loads(raw)
    else:
        items = [p for p in re.split(r"\n\s*\n", raw)]
    texts = [(i["text"] if isinstance(i, dict) else str(i)).strip() for i in items]
    texts = [t for t in texts if t][:n]
    if not texts:
        raise ValueError(f"corpus {path} holds no text")
    return texts


def source_tag(source: str | Path) -> str:
    """'self' or 'corpus-<hash of path, size and mtime>' for the cache path."""
    if str(source) == "self":
        return "self"
    p = Path(source)
    st = p.stat()
    return "corpus-" + hashlib.sha1(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]


def regularise(mom2: torch.Tensor, ridge: float) -> torch.Tensor:
    """C + ridge * mean(diag C) * I, fp32."""
    eye = torch.eye(mom2.shape[0], dtype=mom2.dtype, device=mom2.device)
    return (mom2 + ridge * mom2.diagonal().mean() * eye).float()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def statistics_id(model: str) -> str:
    """The `model_id` a model's cached statistics are filed under: the last part of the path or
    hub id it was loaded from (the converted default model: "SmolLM2-135M-Instruct")."""
    return Path(model).name


def layer_covariances(
    model: nn.Module,
    tokenizer: Tokenizer,
    layers: list[int],
    cache_dir: Path,
    *,
    model_id: str,
    source: str | Path = "self",
    config: CovarianceConfig | None = None,
    progress: Progress | None = None,
    regularised: bool = True,
) -> dict[int, torch.Tensor]:
    """C per layer (d_in x d_in fp32, regularised unless told not), from the cache or computed.

    `source` is "self" (text the model samples, itself cached) or a corpus path.
    """
    config = config or CovarianceConfig()
    folder = Path(cache_dir) / _safe(model_id) / source_tag(source)
    size = f"n{config.n_texts}_len{config.max_length}_seed{config.seed}"
    files = {layer: folder / f"{edit_site(model, layer).module_name}_{size}.safetensors" for layer in layers}
    missing = [layer for layer, f in files.items() if not f.exists()]
    if missing:
        texts = _texts(model, tokenizer, folder, source, config, size, progress)
        stats = second_moment(
            model, tokenizer, texts, missing, max_length=config.max_length, batch_size=config.batch_size,
            progress=(lambda f, msg: progress(0.5 + f / 2, msg)) if progress else None,
        )
        folder.mkdir(parents=True, exist_ok=True)
        for layer, (s, count) in stats.items():
            tmp = files[layer].with_suffix(".tmp")
            save_file({"mom2": (s / count).float().contiguous(), "count": torch.tensor([count])}, str(tmp))
            tmp.replace(files[layer])
    out = {}
    for layer, f in files.items():
        mom2 = load_file(str(f))["mom2"]
        out[layer] = regularise(mom2, config.ridge) if regularised else mom2
    return out


def _texts(model, tokenizer: Tokenizer, folder: Path, source, config: CovarianceConfig, size: str, progress) -> list[str]:
    if str(source) != "self":
        return read_corpus(Path(source), config.n_texts)
    path = folder / f"texts_{size}.json"
    if path.exists():
        return json.loads(path.read_text())
    texts = sample_texts(
        model, tokenizer, config.n_texts, config.max_length, seed=config.seed, batch_size=config.batch_size,
        progress=(lambda f, msg: progress(f / 2, msg)) if progress else None,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(texts))
    return texts
