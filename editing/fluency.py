"""Fluency and general ability: ROME's n-gram entropy of generations and the perplexity of a fixed text.

An edit that breaks a model shows in two ways these catch cheaply: its greedy generations loop
or repeat (the n-gram entropy drops), and ordinary text becomes less likely (the perplexity of
`GENERAL_TEXT` rises). Both are deterministic, so before/after comparisons carry no sampling noise.

>>> scores = fluency_scores(model, tokenizer)   # {"entropy": 5.1, "perplexity": 9.8}
>>> n_gram_entropy("the cat sat on the mat")
"""
from __future__ import annotations

import math
import re
from collections import Counter

import torch
from torch import nn

from editing.request import Tokenizer

FLUENCY_PROMPTS: tuple[str, ...] = (
    "The history of the city begins",
    "My favourite way to spend a weekend is",
    "Scientists study the ocean because",
    "The new library in town",
)
"""Open prompts whose greedy continuations are scored for repetition."""

GENERAL_TEXT = (
    "Every spring the river that runs through the valley rises with the melting snow. Farmers on "
    "both banks wait for the water to fall before they plant wheat and barley, and children watch "
    "the boats that carry timber down to the coast. The town at the mouth of the river grew around "
    "a small harbour, where fishermen still sell their catch in the early morning. In the last "
    "century a railway line reached the town, and with it came a school, a hospital and a library. "
    "Today most people work in offices or shops, but the market square is as busy as it was a "
    "hundred years ago. Visitors come in summer to walk in the hills, to swim in the lakes and to "
    "taste the local cheese, which is made from the milk of goats that graze on the high meadows."
)
"""A plain descriptive paragraph (written for this project): how likely ordinary text stays."""

_WORD = re.compile(r"\w+|[^\w\s]")


def n_gram_entropy(text: str, ns: tuple[int, ...] = (2, 3), weights: tuple[float, ...] = (2 / 3, 4 / 3)) -> float:
    """ROME's generation entropy of one text: the weighted mean over n of the entropy (bits) of
    its word n-gram frequencies (0 for a text too short to hold an n-gram)."""
    words = _WORD.findall(text.lower())
    parts = []
    for n, w in zip(ns, weights):
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        total = sum(grams.values())
        parts.append(w * -sum(c / total * math.log2(c / total) for c in grams.values()) if total else 0.0)
    return sum(parts) / len(parts)


def mean_entropy(texts: list[str]) -> float:
    """Arithmetic mean of `n_gram_entropy` over texts (ROME's `agg="arith"`)."""
    return sum(n_gram_entropy(t) for t in texts) / len(texts) if texts else math.nan


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def greedy(model: nn.Module, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Greedy continuations of `prompts` (one left-padded batch), decoded without special tokens."""
    return tokenizer.batch_decode(greedy_ids(model, tokenizer, prompts, max_new_tokens), skip_special_tokens=True)


@torch.no_grad()
def greedy_ids(model: nn.Module, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int) -> list[list[int]]:
    """Token ids of the greedy continuations of `prompts` (one left-padded batch; padding after an
    early end of sequence included)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [tokenizer.encode(p, add_special_tokens=True) for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r)
        mask[i, width - len(r) :] = 1
    dev = _device(model)
    out = model.generate(
        input_ids=ids.to(dev), attention_mask=mask.to(dev), max_new_tokens=max_new_tokens, do_sample=False,
        temperature=None, top_p=None, top_k=None, pad_token_id=pad,
    )
    return out[:, width:].tolist()


@torch.no_grad()
def perplexity(model: nn.Module, tokenizer: Tokenizer, text: str = GENERAL_TEXT) -> float:
    """exp(mean NLL) of `text`'s tokens after the first."""
    ids = torch.tensor([tokenizer.encode(text, add_special_tokens=True)], device=_device(model))
    logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
    return float(torch.nn.functional.cross_entropy(logits, ids[0, 1:]).exp())


def fluency_scores(
    model: nn.Module, tokenizer: Tokenizer, prompts: tuple[str, ...] = FLUENCY_PROMPTS, max_new_tokens: int = 32,
) -> dict[str, float]:
    """{"entropy": mean n-gram entropy of greedy continuations of `prompts`, "perplexity": of `GENERAL_TEXT`}."""
    texts = greedy(model, tokenizer, list(prompts), max_new_tokens)
    return {"entropy": mean_entropy(texts), "perplexity": perplexity(model, tokenizer)}
