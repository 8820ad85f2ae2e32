"""Tiny, offline fixtures for the editing math: a byte-level tokenizer and random Llama/GPT-2 models."""
from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from tests.helpers.models import byte_tokenizer as build_byte_tokenizer
from tests.helpers.models import tiny_gpt2, tiny_llama

BYTE_LLAMA = dict(vocab_size=257, num_hidden_layers=4, max_position_embeddings=256, initializer_range=0.3,
                  pad_token_id=None)
"""`tiny_llama` overrides for `byte_tokenizer`, with larger random weights (std 0.3)."""


@pytest.fixture(scope="session")
def byte_tokenizer() -> PreTrainedTokenizerFast:
    return build_byte_tokenizer()


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and a busy machine makes more threads thrash)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def llama() -> LlamaForCausalLM:
    return tiny_llama(**BYTE_LLAMA)


@pytest.fixture(params=["llama", "gpt2"])
def any_model(request) -> torch.nn.Module:
    return tiny_llama(**BYTE_LLAMA) if request.param == "llama" else tiny_gpt2()
