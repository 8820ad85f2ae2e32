"""Where an edit lands: the MLP output projection of one layer, per architecture family."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from editing.request import UnknownLayerError, UnsupportedModelError

# (module path template, weight stored as (in, out) i.e. GPT-2 Conv1D)
_SITES: tuple[tuple[str, bool], ...] = (
    ("model.layers.{}.mlp.down_proj", False),  # Llama, Mistral, Qwen2, SmolLM2
    ("transformer.h.{}.mlp.c_proj", True),  # GPT-2
)


@dataclass(frozen=True)
class EditSite:
    """The rewrite module of one layer: its key is the module input (size d_ff), value its output (d)."""

    layer: int
    module_name: str
    transposed: bool

    @property
    def param_name(self) -> str:
        return f"{self.module_name}.weight"


def num_layers(model: nn.Module) -> int:
    return int(model.config.num_hidden_layers)


def default_layer(model: nn.Module) -> int:
    """ROME's layer at the same relative depth as layer 5 of 32 in Llama/GPT-J (5 on SmolLM2's 30)."""
    return min(num_layers(model) - 1, round(num_layers(model) * 5 / 32))


def edit_site(model: nn.Module, layer: int) -> EditSite:
    """The rewrite module of `layer`; typed errors for an unknown layer or architecture."""
    n = num_layers(model)
    if not 0 <= layer < n:
        raise UnknownLayerError(f"layer {layer} does not exist: this model has layers 0..{n - 1}")
    for template, transposed in _SITES:
        name = template.format(layer)
        try:
            model.get_submodule(name)
        except AttributeError:
            continue
        return EditSite(layer, name, transposed)
    raise UnsupportedModelError(
        f"{type(model).__name__} is not supported: weight edits need a Llama-family or GPT-2 model"
    )


def module(model: nn.Module, site: EditSite) -> nn.Module:
    return model.get_submodule(site.module_name)


def weight_matrix(model: nn.Module, site: EditSite) -> torch.Tensor:
    """The rewrite weight as a (d_out, d_in) fp32 matrix, whatever its storage layout."""
    w = module(model, site).weight.detach().float()
    return w.t() if site.transposed else w


def to_param_factors(site: EditSite, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors of a (d_out, d_in) update `left @ right` in the parameter's own layout, fp32 on CPU."""
    if site.transposed:
        left, right = right.t(), left.t()
    return tuple(t.detach().to(torch.float32, copy=True).cpu().contiguous() for t in (left, right))  # type: ignore[return-value]


def dense_deltas(factors: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per parameter, `left @ right` as an fp32 CPU tensor of the parameter's shape.

    The product is taken in float64 and rounded once, so a rank-one delta is exactly its outer product.
    """
    return {name: (left.double() @ right.double()).float() for name, (left, right) in factors.items()}
