"""O-LoRA's orthogonality penalty: a new skill's LoRA A is pushed out of the earlier skills' subspaces.

A LoRA update ``B A`` only reads its input through the rows of A (r x in), so two skills whose A
rows span orthogonal subspaces change the layer's output for disjoint input directions. O-LoRA
(Wang et al., 2023) adds ``lambda * sum_layers sum |A_past A_new^T|`` to the loss, where A_past
stacks every earlier skill's A (k x in). Here the new A also starts in the orthogonal complement
of A_past (its random init with the earlier rows projected out, :func:`start_orthogonal`): skills
trained with the same seed would otherwise start from the same A. PEFT's OSF was not used: it trains a full-rank residual
subspace, while skills here are stored and merged as low-rank task vectors.

>>> past = past_subspaces([result.factors for result in earlier])     # {param: (k, in)}
>>> train_skill(model, tok, skill, SkillConfig(orthogonal_lambda=0.5), orthogonal_to=past)
"""

from __future__ import annotations

from pathlib import Path

import torch

from .lora import lora_layers
from .merge import Factors


def past_subspaces(task_vectors: list[Factors]) -> dict[str, torch.Tensor]:
    """The earlier skills' A rows per parameter, stacked: {"<module>.weight": (sum of ranks, in)}."""
    out: dict[str, list[torch.Tensor]] = {}
    for factors in task_vectors:
        for name, (_, right) in factors.items():
            out.setdefault(name, []).append(right)
    return {name: torch.cat(rows) for name, rows in out.items()}


def adapter_subspaces(folders: list[Path]) -> dict[str, torch.Tensor]:
    """The same, read from adapters saved in PEFT format (``adapter_model.safetensors``)."""
    from safetensors.torch import load_file

    out: dict[str, list[torch.Tensor]] = {}
    for folder in folders:
        path = folder / "adapter_model.safetensors"
        if not path.exists():
            continue
        for key, tensor in load_file(path).items():
            if key.endswith(".lora_A.weight"):
                module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
                out.setdefault(f"{module}.weight", []).append(tensor.float())
    return {name: torch.cat(rows) for name, rows in out.items()}


def _basis(rows: torch.Tensor) -> torch.Tensor:
    """Orthonormal columns spanning the rows of ``rows`` (k x in) -> (in, k)."""
    return torch.linalg.qr(rows.double().T)[0]


def _outside(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``x`` with the span of ``q``'s columns projected out (twice, for round-off)."""
    for _ in range(2):
        x = x - (x @ q) @ q.T
    return x


def start_orthogonal(peft_model: torch.nn.Module, past: dict[str, torch.Tensor]) -> None:
    """Project the earlier subspaces out of every new LoRA A, keeping each row's norm (the init's
    scale); a row that lies inside (an earlier skill drew the same init) is redrawn at random first.
    Left as is where the earlier subspaces fill the space."""
    with torch.no_grad():
        for name, layer in lora_layers(peft_model):
            rows = past.get(f"{name}.weight")
            a = layer.lora_A["default"].weight  # (r, in)
            if rows is None or rows.shape[0] + a.shape[0] > a.shape[1]:
                continue
            q = _basis(rows)
            old = a.double()
            rest = _outside(old, q)
            inside = rest.norm(dim=1) < 1e-3 * old.norm(dim=1)  # e.g. the same init: redraw those rows
            if inside.any():
                fresh = torch.randn(int(inside.sum()), old.shape[1], dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(rows.shape[0]))
                rest[inside] = _outside(fresh, q)
            scale = old.norm(dim=1, keepdim=True) / rest.norm(dim=1, keepdim=True).clamp_min(1e-30)
            a.copy_((rest * scale).to(a.dtype))


def orthogonality_penalty(peft_model: torch.nn.Module, past: dict[str, torch.Tensor]) -> torch.Tensor:
    """``sum_layers sum |A_past A_new^T|`` over the LoRA layers that have earlier subspaces."""
    total = None
    for name, layer in lora_layers(peft_model):
        rows = past.get(f"{name}.weight")
        if rows is None:
            continue
        a = layer.lora_A["default"].weight  # (r, in)
        term = (rows.to(a.device, a.dtype) @ a.T).abs().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("no LoRA layer matches the earlier skills' subspaces: check config.targets")
    return total


def subspace_overlap(past: torch.Tensor, new: torch.Tensor) -> float:
    """Share of ``new``'s squared norm (rows, r x in) inside the row space of ``past`` (k x in):
    0 when orthogonal, 1 when inside; random rows give about k / in."""
    new = new.double()
    return float((new @ _basis(past)).pow(2).sum() / new.pow(2).sum())


def mean_overlap(past: dict[str, torch.Tensor], factors: Factors) -> float:
    """:func:`subspace_overlap` of a skill's A with the earlier A's, averaged over parameters."""
    values = [subspace_overlap(past[name], right) for name, (_, right) in factors.items() if name in past]
    return sum(values) / len(values) if values else 0.0
