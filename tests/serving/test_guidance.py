"""Context-aware decoding: each greedy token is the argmax of
``scale * log p(y | grounded) - (scale - 1) * log p(y | plain)`` over the plausible tokens, computed
here by hand with full forward passes (no cache) on the tiny Llama (whole-word vocabulary: no token
continues a word, so every step is contrasted); pieces inside a word are not contrasted."""

from __future__ import annotations

import math

import pytest
import torch

from serving.core.generation import Guidance, SamplingParams, continues_word, decode_stream
from tests.helpers.models import byte_tokenizer, tiny_tokenizer

GROUNDED = "rome is the capital of italy . the capital of italy is"
PLAIN = "cat dog"
"""A contrast under which the random model's guided answer differs from its plain greedy one."""


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def _by_hand(model, grounded: list[int], plain: list[int], guidance: Guidance, steps: int) -> list[int]:
    out: list[int] = []
    for _ in range(steps):
        with torch.no_grad():
            g = torch.log_softmax(model(torch.tensor([grounded + out])).logits[0, -1], -1)
            p = torch.log_softmax(model(torch.tensor([plain + out])).logits[0, -1], -1)
        mixed = guidance.scale * g - (guidance.scale - 1) * p
        mixed[g < g.max() + math.log(guidance.plausibility)] = float("-inf")
        out.append(int(mixed.argmax()))
    return out


@pytest.mark.parametrize("scale,plausibility", [(2.0, 0.1), (5.0, 1e-6)])
def test_guided_greedy_tokens_are_the_contrast_of_the_two_prompts(tiny_llama, scale, plausibility):
    tok = tiny_tokenizer()
    grounded, plain = _ids(tok, GROUNDED), _ids(tok, PLAIN)
    guidance = Guidance(plain, scale, plausibility)
    params = SamplingParams(max_tokens=6, temperature=0.0, guidance=guidance)
    pieces = list(decode_stream(tiny_llama, tok, grounded, params))
    expected = _by_hand(tiny_llama, grounded, plain, guidance, pieces[-1].completion_tokens)
    assert "".join(p.text for p in pieces) == tok.decode(expected, skip_special_tokens=True)


def test_the_contrast_changes_what_a_random_model_says(tiny_llama):
    """Not vacuous: with a strong contrast, the tiny model's greedy answer differs from plain greedy."""
    tok = tiny_tokenizer()
    grounded, plain = _ids(tok, GROUNDED), _ids(tok, PLAIN)
    greedy = "".join(p.text for p in decode_stream(tiny_llama, tok, grounded, SamplingParams(6, 0.0)))
    guided = "".join(p.text for p in decode_stream(
        tiny_llama, tok, grounded, SamplingParams(6, 0.0, guidance=Guidance(plain, 5.0, 1e-6))))
    assert guided != greedy


def test_the_same_prompt_as_contrast_leaves_greedy_decoding_unchanged(tiny_llama):
    tok = tiny_tokenizer()
    ids = _ids(tok, GROUNDED)
    greedy = "".join(p.text for p in decode_stream(tiny_llama, tok, ids, SamplingParams(6, 0.0)))
    same = "".join(p.text for p in decode_stream(tiny_llama, tok, ids, SamplingParams(6, 0.0, guidance=Guidance(ids, 2.0))))
    assert same == greedy


def test_only_pieces_after_a_word_start_continue_a_word():
    byte = byte_tokenizer()
    continues = continues_word(byte)
    ids = {piece: byte.convert_tokens_to_ids(piece) for piece in ("a", "Z", "7", "Ġ", ".", "<|endoftext|>")}
    assert [bool(continues[ids[p]]) for p in ("a", "Z", "7")] == [True, True, True]
    assert [bool(continues[ids[p]]) for p in ("Ġ", ".", "<|endoftext|>")] == [False, False, False]
    assert not continues_word(tiny_tokenizer()).any()
