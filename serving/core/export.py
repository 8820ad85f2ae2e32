"""Export for scale-out: the merged weights as a transformers checkpoint, and the applied weight
changes as PEFT LoRA adapters on the base model (servable by vLLM ``--enable-lora``).

A sum of k rank-one edits on one matrix is exactly a rank-k matrix, so its truncated SVD
``D = (U S) Vᵀ`` gives ``lora_B = U S``, ``lora_A = Vᵀ`` with ``lora_alpha = r`` (scaling 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from safetensors.torch import save_file

from .engine import Engine
from .errors import InvalidInputError

RANK_TOLERANCE = 1e-6
"""Singular values below this fraction of the largest are treated as zero."""


class ExportError(InvalidInputError):
    """The export target is unusable (not absolute, or a non-empty directory)."""


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


def export(engine: Engine, out_dir: Path) -> dict[str, Any]:
    """Write ``merged/`` (current weights), ``adapters/edits`` and one ``adapters/<skill>`` per skill."""
    if not out_dir.is_absolute():
        raise ExportError(f"export path must be absolute, got {str(out_dir)!r}")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} exists and is not empty")
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
        for entry_id, _ in engine.history.weight_entries():
            entry = engine.history.get(entry_id)
            delta = engine.history.delta(entry_id)
            if entry.kind == "edit":
                for name, d in delta.items():
                    edit_sum[name] = edit_sum[name] + d if name in edit_sum else d.clone()
            else:
                label = entry.details.get("name") or entry.id
                summary["adapters"][f"{entry.kind}-{label}"] = write_lora_adapter(
                    delta, linear, base_model, out_dir / "adapters" / f"{entry.kind}-{label}")
        if edit_sum:
            summary["adapters"]["edits"] = write_lora_adapter(edit_sum, linear, base_model, out_dir / "adapters" / "edits")
    (out_dir / "palimpsest-export.json").write_text(json.dumps(summary, indent=2))
    return summary
