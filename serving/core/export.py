"""Export for scale-out: the merged weights as a transformers checkpoint, and the applied weight
changes as PEFT LoRA adapters on the base model (servable by vLLM ``--enable-lora``).

A sum of k rank-one edits on one matrix is exactly a rank-k matrix, so its truncated SVD
``D = (U S) Vᵀ`` gives ``lora_B = U S``, ``lora_A = Vᵀ`` with ``lora_alpha = r`` (scaling 1).

Exports are confined to ``Settings.exports_dir`` (``PALIMPSEST_EXPORT_DIR``): a request names a
sub-folder, which must resolve (symlinks followed) inside that directory, outside the server's
state directories, and be absent or empty.

>>> export(engine, "nightly")["path"]
'/home/me/.palimpsest/exports/nightly'
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from safetensors.torch import save_file

from .engine import Engine
from .errors import ConflictError, InvalidInputError
from .settings import Settings

RANK_TOLERANCE = 1e-6
"""Singular values below this fraction of the largest are treated as zero."""


class ExportError(InvalidInputError):
    """The export target is unusable: not a plain sub-folder of the export directory, a file, unwritable."""


class ExportExistsError(ConflictError):
    """The export folder exists and is not empty."""


def name_of_path(settings: Settings, path: str) -> str:
    """The sub-folder name of an absolute ``path`` inside the export directory (the older request shape)."""
    if "\x00" in path:
        raise ExportError("the export path contains a NUL character")
    root = _root(settings)
    target = Path(path)
    if not target.is_absolute():
        raise ExportError(f"path must be absolute, got {path!r}; or send {{'name': <folder>}}")
    try:
        return str(target.resolve().relative_to(root))
    except ValueError:
        raise ExportError(f"{path} is outside the export directory {root} (PALIMPSEST_EXPORT_DIR); "
                          "send {'name': <folder>} to write under it") from None


def _root(settings: Settings) -> Path:
    root = settings.exports_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the export directory {root}: {exc.strerror}") from exc
    return root.resolve()


def export_target(settings: Settings, name: str) -> Path:
    """The folder ``name`` names under the export directory, checked and created (empty)."""
    parts = name.strip("/").split("/")
    if "\x00" in name or not name.strip("/") or any(p in ("", ".", "..") for p in parts) or name.startswith("/"):
        raise ExportError(f"name must be a relative folder name without '..', got {name!r}")
    root = _root(settings)
    target = (root / name).resolve()
    if target == root or not target.is_relative_to(root):
        raise ExportError(f"{name!r} leads outside the export directory {root} (through a symbolic link?)")
    if any(target.is_relative_to(state.resolve()) for state in settings.state_dirs):
        raise ExportError(f"{target} is inside the server's state; choose another export directory")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise ExportExistsError(f"{target} exists and is not empty; choose another name")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {target}: {exc.strerror}") from exc
    return target


def low_rank(delta: torch.Tensor, max_rank: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, A)`` with ``B @ A == delta`` up to fp32 rounding; delta is (out, in)."""
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    rank = max(1, int((s > s[0] * RANK_TOLERANCE).sum())) if s[0] > 0 else 1
    if max_rank is not None:
        rank = min(rank, max_rank)
    return (u[:, :rank] * s[:rank]).float().contiguous(), vh[:rank].float().contiguous()


def write_lora_adapter(
    deltas: dict[str, torch.Tensor], linear_names: set[str], base_model: str, target: Path
) -> dict[str, Any]:
    """Write ``deltas`` (parameter name -> dense fp32 delta) as one PEFT LoRA adapter directory."""
    tensors: dict[str, torch.Tensor] = {}
    ranks: dict[str, int] = {}
    skipped = []
    for name, delta in sorted(deltas.items()):
        module = name.removesuffix(".weight")
        if not name.endswith(".weight") or module not in linear_names:
            skipped.append(name)
            continue
        b, a = low_rank(delta)
        ranks[module] = a.shape[0]
        tensors[f"base_model.model.{module}.lora_A.weight"] = a
        tensors[f"base_model.model.{module}.lora_B.weight"] = b
    if not tensors:
        return {"modules": 0, "skipped": skipped}
    r = max(ranks.values())
    config = LoraConfig(
        r=r, lora_alpha=r, target_modules=sorted(ranks), rank_pattern=ranks, alpha_pattern=ranks,
        lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", base_model_name_or_path=base_model,
        inference_mode=True,
    )
    target.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(target))
    save_file(tensors, target / "adapter_model.safetensors")
    return {"modules": len(ranks), "max_rank": r, "ranks": ranks, "skipped": skipped}


def export(engine: Engine, name: str) -> dict[str, Any]:
    """Write ``merged/`` (current weights), ``adapters/edits`` and one ``adapters/<skill>`` per skill
    into the export sub-folder ``name``; a failed write leaves no partial folder."""
    out_dir = export_target(engine.settings, name)
    try:
        return _write(engine, out_dir)
    except OSError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise ExportError(f"writing the export to {out_dir} failed: {exc}") from exc


def _write(engine: Engine, out_dir: Path) -> dict[str, Any]:
    linear = {n for n, m in engine.host.model.named_modules() if isinstance(m, torch.nn.Linear)}
    base_model = engine.host.model_id
    summary: dict[str, Any] = {"path": str(out_dir), "adapters": {}}
    with engine.changes_paused():
        merged = out_dir / "merged"
        with engine.host.reading():
            engine.host.model.save_pretrained(merged)
        engine.host.tokenizer.save_pretrained(merged)
        summary["fingerprint"] = engine.host.fingerprint()
        edit_sum: dict[str, torch.Tensor] = {}
        coefficients = engine.coefficients()  # a skill's merging strategy weighs its task vector
        for entry_id, _ in engine.history.weight_entries():
            entry = engine.history.get(entry_id)
            delta = {n: coefficients.get(entry_id, 1.0) * d for n, d in engine.history.delta(entry_id).items()}
            if entry.kind == "edit":
                for name, d in delta.items():
                    edit_sum[name] = edit_sum[name] + d if name in edit_sum else d.clone()
            else:
                label = entry.details.get("name") or entry.id
                summary["adapters"][f"{entry.kind}-{label}"] = write_lora_adapter(
                    delta, linear, base_model, out_dir / "adapters" / f"{entry.kind}-{label}")
        if edit_sum:
            summary["adapters"]["edits"] = write_lora_adapter(edit_sum, linear, base_model, out_dir / "adapters" / "edits")
            # the scope gate is this server's forward hook: elsewhere the edits act on every key
            summary["edits_gated_here"] = engine.settings.edit_gate
    (out_dir / "palimpsest-export.json").write_text(json.dumps(summary, indent=2))
    return summary
