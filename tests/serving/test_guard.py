"""The regression guard on the real default model: a destructive delta is caught and reverted."""

from __future__ import annotations

import pytest
import torch

from serving.core.engine import Engine
from serving.core.errors import RegressionGuardError
from serving.core.settings import Settings

pytestmark = pytest.mark.slow

LAYER = "model.layers.5.mlp.down_proj.weight"


def rank_one(shape, scale: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u, v = torch.randn(shape[0], generator=g), torch.randn(shape[1], generator=g)
    return scale * torch.outer(u / u.norm(), v / v.norm())


def test_destructive_delta_is_reverted_and_a_small_one_kept(default_model_dir, tmp_path):
    engine = Engine.load(Settings(model=str(default_model_dir), home=tmp_path, device="cpu"))
    base_fp = engine.host.fingerprint()
    shape = tuple(engine.host.model.get_parameter(LAYER).shape)

    small = engine.apply_delta("edit", "small", {}, {LAYER: rank_one(shape, 0.5, 1)})
    assert small.status == "applied"
    assert not small.details["guard"]["reverted"]
    assert small.details["guard"]["probes"]["general"] >= 20
    kept_fp = engine.host.fingerprint()

    with pytest.raises(RegressionGuardError) as rejected:
        engine.apply_delta("edit", "huge", {}, {LAYER: torch.randn(shape) * 5.0})
    huge = engine.history.get(rejected.value.entry["id"])
    assert huge.status == "reverted"
    assert huge.details["guard"]["reverted"] and "general" in huge.details["guard"]["reason"]
    assert max(huge.details["guard"]["drops"].values()) > 0.10
    assert engine.host.fingerprint() == kept_fp != base_fp
    assert engine.applied() == [small.id]
