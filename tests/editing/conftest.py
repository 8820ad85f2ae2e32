"""Tiny, offline fixtures for the editing math: a byte-level tokenizer and random Llama/GPT-2 models."""
from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


@pytest.fixture(scope="session")
def byte_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE without merges: every byte is a token (ids 0..255), eos = 256, no pad."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def _llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=257, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True, initializer_range=0.3,
    )
    return LlamaForCausalLM(cfg).eval()


def _gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=257, n_embd=32, n_layer=4, n_head=4, n_positions=256, initializer_range=0.3)
    return GPT2LMHeadModel(cfg).eval()


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and a busy machine makes more threads thrash)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def llama() -> LlamaForCausalLM:
    return _llama()


@pytest.fixture(params=["llama", "gpt2"])
def any_model(request) -> torch.nn.Module:
    return _llama() if request.param == "llama" else _gpt2()
