"""A trivially checkable skill for the tiny random Llama: say the input words in reverse order."""

from __future__ import annotations

import random

import pytest

from adapters import Example, Skill
from tests.conftest import TINY_WORDS


def reverse_examples(n: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.sample(TINY_WORDS, 3)
        rows.append(Example(" ".join(words), " ".join(reversed(words))))
    return rows


@pytest.fixture
def reverse_skill() -> Skill:
    return Skill("reverse", reverse_examples(32), instruction="to")


@pytest.fixture
def skill_llama():
    """The shared tiny random Llama with embeddings scaled up (std 0.5), so a LoRA can move its
    logits far enough for the loss to fall within a few dozen steps."""
    import torch
    from transformers import LlamaForCausalLM

    from tests.conftest import tiny_llama_config

    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config()).eval()
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(25)
    return model
