"""Building engines on tiny models, and synthetic weight deltas."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import PreTrainedModel

from serving.core.engine import Engine
from serving.core.model_host import ModelHost
from serving.core.settings import Settings


def engine_on(model: PreTrainedModel, tokenizer, home: Path) -> Engine:
    host = ModelHost(model, tokenizer, "tiny", torch.device("cpu"))
    return Engine(Settings(home=home, guard=False), host)


def synthetic_delta(model: PreTrainedModel, names: list[str], seed: int, scale: float = 0.01) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(params[n].shape, generator=g) * scale for n in names}


def snapshot(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"
