"""Loading the configured model: nothing is fetched at run time."""

from __future__ import annotations

from pathlib import Path

from serving.core.model_loader import load_model
from serving.core.settings import Settings
from tests.helpers.models import save_model_dir, tiny_llama


def test_loaded_model_uses_no_hub_kernels(tmp_path: Path, monkeypatch) -> None:
    # transformers 5 kernelizes by default (hub kernels, fetched at run time) unless told not to
    monkeypatch.delenv("USE_HUB_KERNELS", raising=False)
    path = save_model_dir(tiny_llama(), tmp_path / "tiny")
    model, tokenizer, device = load_model(Settings(model=str(path), device="cpu", home=tmp_path / "home"))
    assert device.type == "cpu"
    assert model.use_kernels is False
    assert not model.training
