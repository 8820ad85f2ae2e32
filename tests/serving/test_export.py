"""Exported checkpoint and adapters load back with transformers/peft and match the live model;
export writes only into its directory."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from serving.core.export import ExportError, ExportExistsError, export, low_rank
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

    summary = export(engine, "out")
    out = tmp_path / "home" / "exports" / "out"
    assert summary["path"] == str(out)
    assert summary["adapters"]["edits"]["ranks"] == {"model.layers.1.mlp.down_proj": 3}
    ids = torch.tensor([[3, 5, 7, 9, 11]])
    with torch.no_grad():
        live = tiny_llama(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged")(ids).logits
        assert torch.equal(merged, live)

        peft_model = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(base_dir), out / "adapters" / "edits", adapter_name="edits")
        peft_model.load_adapter(out / "adapters" / "skill-shout", adapter_name="shout")
        peft_model.base_model.set_adapter(["edits", "shout"])
        assert torch.allclose(peft_model(ids).logits, live, atol=1e-4)

    with pytest.raises(ExportExistsError, match="not empty"):
        export(engine, "out")


@pytest.fixture
def engine(tiny_llama, tmp_path):
    return engine_on(tiny_llama, tiny_tokenizer(), tmp_path / "home")


def _outside(tmp_path) -> set[str]:
    return {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "/tmp/palimpsest-x", "", ".", "a\x00b", "a//b", "./a"])
def test_names_that_leave_the_export_directory_are_refused(engine, tmp_path, name):
    with pytest.raises(ExportError):
        export(engine, name)
    assert _outside(tmp_path) == {"home"}
    root = engine.settings.exports_dir
    assert not root.exists() or list(root.iterdir()) == []


def test_symlinks_out_of_the_export_directory_are_refused(engine, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = engine.settings.exports_dir
    root.mkdir(parents=True)
    (root / "link").symlink_to(outside)
    for name in ("link", "link/x"):
        with pytest.raises(ExportError, match="outside the export directory"):
            export(engine, name)
    assert list(outside.iterdir()) == []


def test_state_directories_files_and_old_paths(engine, tmp_path):
    home = engine.settings.home
    engine.settings = engine.settings.model_copy(update={"export_dir": home})
    for name in ("deltas/x", "memory", "cache/x"):
        with pytest.raises(ExportError, match="state"):
            export(engine, name)
    with pytest.raises(ExportError, match="not a directory"):
        export(engine, "history.db")
    (home / "plain").write_text("x")
    with pytest.raises(ExportError, match="cannot create"):
        export(engine, "plain/x")

    from serving.core.export import name_of_path

    assert name_of_path(engine.settings, str(home / "nightly")) == "nightly"
    for path in (str(tmp_path / "elsewhere"), "relative/x", str(home / ".." / "x")):
        with pytest.raises(ExportError):
            name_of_path(engine.settings, path)


def test_a_failed_write_leaves_no_partial_folder(engine, monkeypatch):
    import serving.core.export as module

    def full_disk(engine, out_dir):
        (out_dir / "merged").mkdir()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_write", full_disk)
    with pytest.raises(ExportError, match="No space left"):
        export(engine, "big")
    assert not (engine.settings.exports_dir / "big").exists()
