"""Engines over tiny models, synthetic weight deltas, and bit-exact weight comparison."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from serving.core.engine import Engine
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.services import Runtime

from .models import tiny_llama, tiny_tokenizer


def engine_on(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, home: Path) -> Engine:
    """An engine on `model` (cpu, guard off) keeping its state under `home`."""
    host = ModelHost(model, tokenizer, "tiny", torch.device("cpu"))
    return Engine(Settings(home=home, guard=False), host)


def synthetic_delta(model: PreTrainedModel, names: list[str], seed: int, scale: float = 0.01) -> dict[str, torch.Tensor]:
    """Seeded Gaussian deltas (std `scale`) for the parameters `names`, in their shapes."""
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(params[n].shape, generator=g) * scale for n in names}


def snapshot(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """A detached copy of the state dict."""
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Same names, and every tensor equal bit for bit."""
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def tiny_runtime(home: Path) -> Runtime:
    """Every service on the tiny Llama (long context for grounding): rule extraction, C = I edits, no guard."""
    host = ModelHost(tiny_llama(max_position_embeddings=1024), tiny_tokenizer(), "tiny", torch.device("cpu"))
    settings = Settings(home=home, guard=False, memory_extractor="rule", edit_covariance="identity",
                        edit_chat_context=False)
    return Runtime(Engine(settings, host))
