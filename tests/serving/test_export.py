"""Exported checkpoint and adapters load back with transformers/peft and match the live model."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from serving.core.export import ExportError, export, low_rank
from tests.helpers.engine import engine_on
from tests.helpers.models import tiny_tokenizer

DOWN = "model.layers.1.mlp.down_proj.weight"


def rank_one(shape: tuple[int, int], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.outer(torch.randn(shape[0], generator=g), torch.randn(shape[1], generator=g)) * 0.05


def test_low_rank_recovers_a_sum_of_rank_one_edits():
    delta = sum(rank_one((40, 70), s) for s in range(3))
    b, a = low_rank(delta)
    assert a.shape == (3, 70) and b.shape == (40, 3)
    assert torch.allclose(b @ a, delta, atol=1e-6)


def test_export_matches_the_live_model(tiny_llama, tmp_path):
    base_dir = tmp_path / "base"
    tiny_llama.save_pretrained(base_dir)
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path / "home")
    engine.host.model_id = str(base_dir)
    shape = tuple(tiny_llama.get_parameter(DOWN).shape)
    for seed in range(3):
        engine.apply_delta("edit", f"edit {seed}", {}, {DOWN: rank_one(shape, seed)})
    dropped = engine.apply_delta("edit", "dropped", {}, {DOWN: rank_one(shape, 9)})
    engine.revert(dropped.id)
    up = "model.layers.0.mlp.up_proj.weight"
    engine.apply_delta("skill", "skill", {"name": "shout"}, {up: rank_one(tuple(tiny_llama.get_parameter(up).shape), 5)})

    summary = export(engine, tmp_path / "out")
    assert summary["adapters"]["edits"]["ranks"] == {"model.layers.1.mlp.down_proj": 3}
    ids = torch.tensor([[3, 5, 7, 9, 11]])
    with torch.no_grad():
        live = tiny_llama(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "merged")(ids).logits
        assert torch.equal(merged, live)

        peft_model = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(base_dir), tmp_path / "out" / "adapters" / "edits", adapter_name="edits")
        peft_model.load_adapter(tmp_path / "out" / "adapters" / "skill-shout", adapter_name="shout")
        peft_model.base_model.set_adapter(["edits", "shout"])
        assert torch.allclose(peft_model(ids).logits, live, atol=1e-4)

    with pytest.raises(ExportError, match="not empty"):
        export(engine, tmp_path / "out")
    with pytest.raises(ExportError, match="absolute"):
        export(engine, tmp_path.relative_to(tmp_path.parent))
