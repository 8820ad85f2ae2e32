"""The precision the value optimisation runs in: the model itself, or a bfloat16 copy of it.

The value optimisation's 25 steps of forward and backward passes are most of an edit's time, and
on a CPU they are bound by fp32 matrix products. Where the device multiplies bfloat16 natively
(AVX512-BF16 or AMX CPUs, CUDA with bf16), a bfloat16 copy of the model does them in about half
the time; the delta, its Adam state, the keys and the solve stay fp32.

>>> work = value_model(model, "auto")   # `model` itself where bf16 is not native or already used
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from editing.config import ValueDtype


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 natively (not by converting to fp32 in software)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
                    or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def resolve_dtype(choice: ValueDtype, device: torch.device) -> torch.dtype | None:
    """The dtype to optimise in; None for the model's own ("float32", or "auto" without native bf16)."""
    if choice == "bfloat16" or (choice == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def copy_in(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of `model` with its parameters in `dtype`, frozen; tied weights stay tied, and hooks
    such as the edit gate's are copied with it."""
    memo = {id(p): nn.Parameter(p.detach().to(dtype), requires_grad=False) for p in model.parameters()}
    return copy.deepcopy(model, memo)  # parameters come from memo, so tied weights stay tied


def value_model(model: nn.Module, choice: ValueDtype) -> nn.Module:
    """`model`, or a copy of it in bfloat16 (`copy_in`) when `choice` resolves to bfloat16 and the
    model is not already in it. On a CPU the copy uses eager attention: the fused attention's
    backward is slower in bfloat16 than in fp32 there."""
    param = next(model.parameters())
    dtype = resolve_dtype(choice, param.device)
    if dtype is None or param.dtype == dtype:
        return model
    work = copy_in(model, dtype)
    if param.device.type == "cpu" and hasattr(work, "set_attn_implementation"):
        work.set_attn_implementation("eager")
    return work
