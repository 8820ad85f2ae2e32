"""Forward hooks: read a module's input/output, or change its output, without touching weights."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class Capture:
    """Inputs (first positional arg) and outputs of every call of a module while active."""

    def __init__(self) -> None:
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []


@contextmanager
def capture(module: nn.Module) -> Iterator[Capture]:
    cap = Capture()

    def hook(_m: nn.Module, args: tuple, output: torch.Tensor) -> None:
        cap.inputs.append(args[0].detach())
        cap.outputs.append(output.detach())

    handle = module.register_forward_hook(hook)
    try:
        yield cap
    finally:
        handle.remove()


@contextmanager
def linear_deltas(model: nn.Module, deltas: dict[str, torch.Tensor]) -> Iterator[None]:
    """Behave as if module `name`'s weight had `deltas[name]` (d_out, d_in) added: out += x dW^T."""

    def make(dw: torch.Tensor):
        def hook(_m: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
            x = args[0]
            return output + (x.to(dw.dtype) @ dw.t()).to(output.dtype)

        return hook

    handles = [model.get_submodule(name).register_forward_hook(make(dw)) for name, dw in deltas.items()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class _Stop(Exception):
    pass


@contextmanager
def stop_after(module: nn.Module) -> Iterator[None]:
    """Abort the forward pass once `module` has run: the layers above it are not computed."""

    def hook(*_a) -> None:
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        yield
    except _Stop:
        pass
    finally:
        handle.remove()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
