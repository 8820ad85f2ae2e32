"""LoRA layers of a PeftModel and their merged weight delta (used by training and by EWC)."""

from __future__ import annotations

from collections.abc import Iterator

import torch


def lora_layers(peft_model: torch.nn.Module, adapter: str = "default") -> Iterator[tuple[str, torch.nn.Module]]:
    """Yield (plain module name, lora layer) for every LoRA-wrapped linear of a PeftModel."""
    from peft.tuners.lora import LoraLayer

    for name, module in peft_model.base_model.model.named_modules():
        if isinstance(module, LoraLayer) and adapter in module.lora_A:
            yield name, module


def lora_factors(peft_model: torch.nn.Module, adapter: str = "default") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The raw task vector of a LoRA adapter as factors {"<module>.weight": (scaling * B, A)} in fp32 on CPU."""
    factors = {}
    with torch.no_grad():
        for name, layer in lora_layers(peft_model, adapter):
            a = layer.lora_A[adapter].weight.detach().float().cpu().clone()
            b = layer.lora_B[adapter].weight.detach().float().cpu()
            factors[f"{name}.weight"] = (layer.scaling[adapter] * b, a)
    return factors


def lora_delta(peft_model: torch.nn.Module, merge_alpha: float = 1.0, adapter: str = "default") -> dict[str, torch.Tensor]:
    """Weight delta of a LoRA adapter: {"<module>.weight": merge_alpha * scaling * B @ A} in fp32 on CPU."""
    delta = {}
    with torch.no_grad():
        for name, layer in lora_layers(peft_model, adapter):
            a = layer.lora_A[adapter].weight.detach().float().cpu()
            b = layer.lora_B[adapter].weight.detach().float().cpu()
            delta[f"{name}.weight"] = (merge_alpha * layer.scaling[adapter]) * (b @ a)
    return delta
