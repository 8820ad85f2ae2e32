"""Tiny random models and tokenizers built from a config, for the fast tests."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

TINY_WORDS = "the a is of in to and cat dog paris rome france italy city capital located".split()
"""The words of `tiny_tokenizer` (ids 3.., after <unk>, <pad>, <eos>)."""


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over `TINY_WORDS` with a one-line chat template."""
    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "<eos>", *TINY_WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    tok.chat_template = "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
    return tok


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE without merges: every byte is a token (ids 0..255), eos = 256, no pad."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def tiny_llama(**overrides) -> LlamaForCausalLM:
    """A tiny random Llama (fp32, seeded with 0, eval mode); `overrides` go into its `LlamaConfig`.

    The defaults fit `tiny_tokenizer` (64 ids, pad 1, eos 2); for `byte_tokenizer` pass
    ``vocab_size=257, pad_token_id=None``.

    >>> tiny_llama(num_hidden_layers=2).config.num_hidden_layers
    2
    """
    config = dict(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=True, eos_token_id=2, pad_token_id=1, bos_token_id=None,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**{**config, **overrides})).eval()


def tiny_gpt2(**overrides) -> GPT2LMHeadModel:
    """A tiny random GPT-2 for `byte_tokenizer` (seeded with 0, eval mode); `overrides` go into its `GPT2Config`."""
    config = dict(vocab_size=257, n_embd=32, n_layer=4, n_head=4, n_positions=256, initializer_range=0.3)
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(**{**config, **overrides})).eval()


def save_model_dir(model: LlamaForCausalLM, path: Path) -> Path:
    """`model` and `tiny_tokenizer` saved as a model directory at `path`."""
    model.save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


def record_forwards(model: torch.nn.Module, delay: float = 0.0) -> list[tuple[int, int]]:
    """(rows, width) of the input ids of every later forward pass of ``model``, each slowed by ``delay``."""
    shapes: list[tuple[int, int]] = []
    forward = model.forward

    def recorded(*args, **kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))
        time.sleep(delay)
        return forward(*args, **kwargs)

    model.forward = recorded
    return shapes
