"""EWC for LoRA skills: a diagonal Fisher of the targeted base weights on earlier skills' data,
and the penalty sum F * dW**2 on the LoRA's update dW = scaling * B @ A."""

from __future__ import annotations

import torch

from .data import Encoded
from .lora import lora_layers
from .loss import backward_answer_loss


def fisher_diagonal(
    model: torch.nn.Module, batches: list[list[Encoded]], targets: tuple[str, ...], pad_id: int, max_tokens: int
) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the loss w.r.t. each targeted linear weight, normalised to mean 1.

    Keys are plain module names (e.g. "model.layers.3.mlp.up_proj"). The model's weights are not
    changed; its requires_grad flags are restored.
    """
    weights = {
        name: module.weight
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in targets
    }
    flags = {name: w.requires_grad for name, w in weights.items()}
    fisher = {name: torch.zeros_like(w, dtype=torch.float32) for name, w in weights.items()}
    try:
        for w in weights.values():
            w.requires_grad_(True)
        for batch in batches:
            model.zero_grad(set_to_none=True)
            backward_answer_loss(model, batch, pad_id, max_tokens)
            for name, w in weights.items():
                if w.grad is not None:
                    fisher[name] += w.grad.detach().float() ** 2 / len(batches)
    finally:
        model.zero_grad(set_to_none=True)
        for name, w in weights.items():
            w.requires_grad_(flags[name])
    scale = torch.stack([f.mean() for f in fisher.values()]).mean().clamp_min(1e-30)
    return {name: f / scale for name, f in fisher.items()}


def ewc_penalty(peft_model: torch.nn.Module, fisher: dict[str, torch.Tensor], adapter: str = "default") -> torch.Tensor:
    """Sum over LoRA layers of mean(F * (scaling * B @ A)**2): zero at the previous state."""
    terms = []
    for name, layer in lora_layers(peft_model, adapter):
        if name in fisher:
            dw = layer.scaling[adapter] * layer.lora_B[adapter].weight @ layer.lora_A[adapter].weight
            terms.append((fisher[name].to(dw.device) * dw.float() ** 2).mean())
    return torch.stack(terms).sum()
