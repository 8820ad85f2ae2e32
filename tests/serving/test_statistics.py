"""Prepared statistics: a server's start-up computes the key statistics of the default layers in
the background, and samples the edits' context prefixes, so the first edit loads, computes and
samples none of them."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

import editing.contexts as contexts
from editing.request import EditRequest
from serving.core.engine import Engine
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.services import Runtime
from serving.services.edits import default_layers
from tests.helpers.models import tiny_llama, tiny_tokenizer


def test_start_up_statistics_serve_the_first_edit(tmp_path: Path, caplog, monkeypatch):
    sampled = []
    real = contexts._sample
    monkeypatch.setattr(contexts, "_sample", lambda *a: sampled.append(1) or real(*a))
    model = tiny_llama(num_hidden_layers=4)
    settings = Settings(home=tmp_path / "home", guard=False, edit_covariance="self", edit_cov_texts=4,
                        edit_cov_length=8, edit_chat_context=False)
    runtime = Runtime(Engine(settings, ModelHost(model, tiny_tokenizer(), "tiny", torch.device("cpu"))))
    try:
        layers = default_layers(model, settings)
        with caplog.at_level(logging.INFO, logger="palimpsest.edits"):
            runtime.edits.prepare_in_background().join(timeout=120)
        assert f"key statistics ready for layers {layers}" in caplog.text
        assert len(list((settings.cache_dir / "edits").rglob("*.safetensors"))) >= len(layers)
        assert sampled == [1]  # the context prefixes too
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="palimpsest.edits"):
            outcome = runtime.edits.edit(EditRequest("the capital of france is", "france", "rome"))
        assert outcome.entry.status == "applied"
        assert "key statistics" not in caplog.text and sampled == [1]  # nothing computed inside the edit
    finally:
        runtime.close()


def test_identity_statistics_need_no_preparation(tmp_path: Path):
    settings = Settings(home=tmp_path / "home", guard=False, edit_covariance="identity")
    runtime = Runtime(Engine(settings, ModelHost(tiny_llama(), tiny_tokenizer(), "tiny", torch.device("cpu"))))
    try:
        assert runtime.edits.prepare_in_background() is None
    finally:
        runtime.close()


def test_start_up_scores_the_guard_so_the_first_edit_finds_its_before(tmp_path: Path):
    model = tiny_llama(num_hidden_layers=4)
    settings = Settings(home=tmp_path / "home", guard=True, guard_threshold=0.99, edit_covariance="identity",
                        edit_chat_context=False)
    runtime = Runtime(Engine(settings, ModelHost(model, tiny_tokenizer(), "tiny", torch.device("cpu"))))
    try:
        guard = runtime.engine.guard
        assert not guard.scored(model)
        runtime.edits.prepare_in_background().join(timeout=120)
        assert guard.scored(model)
        outcome = runtime.edits.edit(EditRequest("the capital of france is", "france", "rome"))
        assert "general" in outcome.entry.details["guard"]["before"]
        assert not guard.scored(tiny_llama(num_hidden_layers=4))  # another model's weights are not these
    finally:
        runtime.close()
