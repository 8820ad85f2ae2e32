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


def repeats(text: str, min_words: int = 12, floor: float = 3.0) -> bool:
    """Whether a generation has collapsed into repetition ("known as actor actor actor ..."): at
    least `min_words` words (a short answer has a low entropy by its length alone) and an
    `n_gram_entropy` below `floor`. Unedited SmolLM2 answers to "What is <subject>?" score 3.4-4.9."""
    return len(_WORD.findall(text)) >= min_words and n_gram_entropy(text) < floor


def mean_entropy(texts: list[str]) -> float:
    """Arithmetic mean of `n_gram_entropy` over texts (ROME's `agg="arith"`)."""
    return sum(n_gram_entropy(t) for t in texts) / len(texts) if texts else math.nan


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def greedy(model: nn.Module, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Greedy continuations of `prompts` (one left-padded batch), decoded without special tokens."""
    return tokenizer.batch_decode(greedy_ids(model, tokenizer, prompts, max_new_tokens), skip_special_tokens=True)


def _left_padded(tokenizer: Tokenizer, prompts: list[str], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [tokenizer.encode(p, add_special_tokens=True) for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r)
        mask[i, width - len(r) :] = 1
    return ids, mask


@torch.no_grad()
def greedy_ids(
    model: nn.Module, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int,
    draft: list[list[int]] | None = None,
) -> list[list[int]]:
    """Token ids of the greedy continuations of `prompts` (one left-padded batch; padding after an
    early end of sequence included).

    `draft`: an earlier result for the same prompts and length (say, before a weight change). One
    forward pass checks which draft tokens the model still picks (speculative decoding's check, with
    the earlier generation as the draft): the draft comes back when it picks them all, and otherwise
    decoding resumes after the longest prefix it picks in every row and the model's own next token."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, mask = _left_padded(tokenizer, prompts, pad)
    dev = _device(model)
    ids, mask = ids.to(dev), mask.to(dev)
    stops = model.generation_config.eos_token_id
    stops = torch.tensor([] if stops is None else [stops] if isinstance(stops, int) else stops,
                         dtype=torch.long, device=dev)
    known = torch.zeros(len(ids), 0, dtype=torch.long, device=dev)
    if draft is not None:
        known = _verified(model, ids, mask, draft, max_new_tokens, stops)
        if known.shape[1] == max_new_tokens or (known.shape[1] and bool(torch.isin(known, stops).any(1).all())):
            return _as_generated(known, stops, pad).tolist()
    out = model.generate(
        input_ids=torch.cat([ids, known], 1), attention_mask=torch.cat([mask, torch.ones_like(known)], 1),
        max_new_tokens=max_new_tokens - known.shape[1], do_sample=False,
        temperature=None, top_p=None, top_k=None, pad_token_id=pad,
    )
    return _as_generated(out[:, ids.shape[1] :], stops, pad).tolist()


def _as_generated(tokens: torch.Tensor, stops: torch.Tensor, pad: int) -> torch.Tensor:
    """`tokens` as `generate` leaves them: `pad` after each row's first end of sequence, and no
    columns after the step at which every row had ended."""
    ended = torch.isin(tokens, stops).long()
    tokens = tokens.masked_fill((ended.cumsum(1) - ended) > 0, pad)
    if bool(ended.any(1).all()):
        tokens = tokens[:, : int(ended.argmax(1).max()) + 1]
    return tokens


def _verified(
    model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, draft: list[list[int]], max_new_tokens: int,
    stops: torch.Tensor,
) -> torch.Tensor:
    """The greedy continuation of the left-padded prompts `ids` as far as one pass over `draft`
    tells it: the draft's longest prefix whose every token (up to a row's first end of sequence) is
    the most probable one in every row, then the model's own pick after it; (B, 0) for a draft of
    another shape."""
    if len(draft) != len(ids) or len({len(row) for row in draft}) != 1 or not 0 < len(draft[0]) <= max_new_tokens:
        return torch.zeros(len(ids), 0, dtype=torch.long, device=ids.device)
    tokens = torch.tensor(draft, device=ids.device)
    ended = torch.isin(tokens, stops).long()
    after_end = (ended.cumsum(1) - ended) > 0  # padding after a row's first end
    full = torch.cat([ids, tokens], 1)
    full_mask = torch.cat([mask, torch.ones_like(tokens)], 1)
    positions = (full_mask.cumsum(1) - 1).clamp_min(0)  # as generate numbers left-padded rows
    logits = model(input_ids=full, attention_mask=full_mask, position_ids=positions, use_cache=False).logits
    picks = logits[:, ids.shape[1] - 1 : -1].argmax(-1)
    wrong = ((picks != tokens) & ~after_end).any(0)
    if not bool(wrong.any()):
        return tokens
    first = int(wrong.long().argmax())
    return torch.cat([tokens[:, :first], picks[:, first : first + 1]], 1)


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
    return FluencyCheck(prompts, max_new_tokens).score(model, tokenizer)


class FluencyCheck:
    """`fluency_scores` that keeps its last generations as the draft of the next call's
    (`greedy_ids`): after a change that leaves the continuations as they were, one forward pass
    instead of `max_new_tokens` decoding steps."""

    def __init__(self, prompts: tuple[str, ...] = FLUENCY_PROMPTS, max_new_tokens: int = 32) -> None:
        self.prompts = prompts
        self.max_new_tokens = max_new_tokens
        self.draft: list[list[int]] | None = None

    def score(self, model: nn.Module, tokenizer: Tokenizer) -> dict[str, float]:
        self.draft = greedy_ids(model, tokenizer, list(self.prompts), self.max_new_tokens, self.draft)
        texts = tokenizer.batch_decode(self.draft, skip_special_tokens=True)
        return {"entropy": mean_entropy(texts), "perplexity": perplexity(model, tokenizer)}
