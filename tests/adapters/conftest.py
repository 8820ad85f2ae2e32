"""Fixtures for skills: the reverse-the-words skill and a tiny Llama a LoRA can move quickly."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM

from adapters import Skill
from tests.helpers.models import tiny_llama
from tests.helpers.skills import reverse_examples


@pytest.fixture
def reverse_skill() -> Skill:
    return Skill("reverse", reverse_examples(32), instruction="to")


@pytest.fixture
def skill_llama() -> LlamaForCausalLM:
    """The shared tiny random Llama with embeddings scaled up (std 0.5), so a LoRA can move its
    logits far enough for the loss to fall within a few dozen steps."""
    model = tiny_llama()
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(25)
    return model
