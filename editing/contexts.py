"""Random prefixes sampled by the model itself; keys and values are averaged over them."""
from __future__ import annotations

import threading
import weakref

import torch
from torch import nn

from editing.config import ContextConfig
from editing.request import Tokenizer

_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple, list[list[int]]]] = weakref.WeakKeyDictionary()
_SAMPLING = threading.Lock()
"""One sampler at a time: each seeds torch's global generator, which two at once would share."""


def context_groups(model: nn.Module, tokenizer: Tokenizer, config: ContextConfig) -> list[list[list[int]]]:
    """Prefix token ids grouped by length: [[[]], group of length n1, group of length n2, ...].

    Within a group every prefix has the same token count, so a group batches without padding.
    Each sampled prefix is `length` generated tokens followed by '. '. Deterministic per
    (model, config) and cached for the model's lifetime.
    """
    key = (config.lengths, config.per_length, config.seed, config.starts)
    with _SAMPLING:
        per_model = _CACHE.setdefault(model, {})
        if key not in per_model:
            per_model[key] = _sample(model, tokenizer, config)
        flat = per_model[key]
    groups: list[list[list[int]]] = [[[]]]
    for i in range(len(config.lengths)):
        group = flat[i * config.per_length : (i + 1) * config.per_length]
        if group:
            groups.append(group)
    return groups


def share_contexts(source: nn.Module, copy: nn.Module) -> None:
    """`copy` (a snapshot of `source`) uses, and fills, the prefixes cached for `source`, so edits
    computed on fresh snapshots sample them once, not once per edit."""
    _CACHE[copy] = _CACHE.setdefault(source, {})


def _sample(model: nn.Module, tokenizer: Tokenizer, config: ContextConfig) -> list[list[int]]:
    sep = tokenizer.encode(". ", add_special_tokens=False)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    firsts = [tokenizer.encode(w, add_special_tokens=False)[0] for w in config.starts]
    out: list[list[int]] = []
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]), torch.no_grad():
        torch.manual_seed(config.seed)
        for length in config.lengths:
            if not config.per_length:
                continue
            ids = torch.tensor([[firsts[i % len(firsts)]] for i in range(config.per_length)], device=device)
            if length > 1:
                ids = model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=True,
                    top_k=5,
                    top_p=1.0,
                    temperature=1.0,
                    max_new_tokens=length - 1,
                    min_new_tokens=length - 1,
                    pad_token_id=pad,
                )
            for row in ids[:, :length].tolist():
                text = tokenizer.decode(row)
                if "\n" in text or "{" in text or "}" in text or len(row) < length:
                    row = _pad_words(tokenizer, text.replace("\n", " ").replace("{", " ").replace("}", " "), length)
                out.append(row + sep)
    return out


def _pad_words(tokenizer: Tokenizer, text: str, length: int) -> list[int]:
    """Re-encode cleaned text to exactly `length` tokens (cut, or extended with ' the')."""
    ids = tokenizer.encode(text, add_special_tokens=False)[:length]
    filler = tokenizer.encode(" the", add_special_tokens=False)
    while len(ids) < length:
        ids += filler[: length - len(ids)]
    return ids
