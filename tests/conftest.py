"""Shared fixtures: tiny random models for the math, the real default model, a real server.
They are thin: the builders live in `tests.helpers`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from transformers import LlamaForCausalLM

from tests.helpers import models, server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def tiny_llama() -> LlamaForCausalLM:
    """A tiny random Llama (fp32, seeded, eval mode)."""
    return models.tiny_llama()


@pytest.fixture
def tiny_model_dir(tmp_path: Path, tiny_llama: LlamaForCausalLM) -> Path:
    """The tiny Llama and a word-level tokenizer saved as a model directory."""
    return models.save_model_dir(tiny_llama, tmp_path / "tiny-llama")


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The converted embedded default model (SmolLM2-135M-Instruct); tests using it are `slow`."""
    return server.default_model_dir()


@pytest.fixture
def start_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """``start_server(home, **env) -> base_url``; every server is stopped at teardown.

    Without ``PALIMPSEST_MODEL=...`` the server runs the real default model (prepared first).
    """
    with ExitStack() as stack:
        def start(home: Path, **env: str) -> str:
            if "PALIMPSEST_MODEL" not in env:
                request.getfixturevalue("default_model_dir")
            return stack.enter_context(server.serve_in_subprocess(home, **env))

        yield start
