"""A batch of sequences decoded together over one left-padded KV cache.

Rows join (their prompts prefilled together) and leave (finished, cancelled) between steps:

    cache  (rows, heads, columns, head_dim)     mask (rows, columns): 1 = a real token
    row 0  [ . . k k k k k k ]                   0 0 1 1 1 1 1 1
    row 1  [ k k k k k k k k ]                   1 1 1 1 1 1 1 1
    row 2  [ . . . . . k k k ]   <- joined late  0 0 0 0 0 1 1 1

Each row keeps its own positions (the count of its real tokens), so padding changes no row's
result: a greedy row gives the tokens it gives alone (up to float rounding of the wider matmuls).
Columns that every row has padded are trimmed when rows leave. The key/value tensors of padded
columns are zeroed, so nothing undefined can reach a softmax weight of zero.

Works for models whose cache layers are plain ``DynamicLayer`` (full attention: Llama, Qwen2,
SmolLM2, GPT-2...); a sliding-window or quantised cache is refused with ``UnsupportedModelError``.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel
from transformers.cache_utils import DynamicLayer

from .errors import InvalidSettingError


class UnsupportedModelError(InvalidSettingError):
    """The model's KV cache cannot be batched by rows (sliding windows, quantised layers)."""


def _left_pad(t: torch.Tensor, columns: int, dim: int) -> torch.Tensor:
    if columns == 0:
        return t
    shape = list(t.shape)
    shape[dim] = columns
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class KVBatch:
    """The rows decoding together; all methods run on one thread, under the model's read lock."""

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.cache = None
        self.mask = torch.zeros(0, 0, dtype=torch.long, device=self.device)
        self.positions = torch.zeros(0, dtype=torch.long, device=self.device)
        """Per row: the position of its next token (its count of real tokens)."""

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    @torch.inference_mode()
    def join(self, prompts: list[list[int]]) -> torch.Tensor:
        """Prefill the prompts together as new last rows; their next-token logits (len(prompts), vocab)."""
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                         use_cache=True)
        cache = out.past_key_values
        for layer in cache.layers:
            if type(layer) is not DynamicLayer:
                raise UnsupportedModelError(f"batched decoding needs full-attention cache layers, not {type(layer).__name__}")
            keep = mask[:, None, :, None].to(layer.keys.dtype)
            layer.keys, layer.values = layer.keys * keep, layer.values * keep
        positions = mask.sum(-1)
        if self.cache is None or len(self) == 0:
            self.cache, self.mask, self.positions = cache, mask, positions
        else:
            grow, extra = max(width - self.mask.shape[1], 0), max(self.mask.shape[1] - width, 0)
            for old, new in zip(self.cache.layers, cache.layers):
                old.keys = torch.cat([_left_pad(old.keys, grow, 2), _left_pad(new.keys, extra, 2)])
                old.values = torch.cat([_left_pad(old.values, grow, 2), _left_pad(new.values, extra, 2)])
            self.mask = torch.cat([_left_pad(self.mask, grow, 1), _left_pad(mask, extra, 1)])
            self.positions = torch.cat([self.positions, positions])
        return out.logits[:, -1]

    @torch.inference_mode()
    def step(self, tokens: list[int]) -> torch.Tensor:
        """Feed one token per row; the next-token logits (rows, vocab)."""
        ones = torch.ones(len(self), 1, dtype=torch.long, device=self.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        out = self.model(input_ids=torch.tensor(tokens, device=self.device)[:, None], attention_mask=self.mask,
                         position_ids=self.positions[:, None], past_key_values=self.cache, use_cache=True)
        self.cache = out.past_key_values
        self.positions = self.positions + 1
        return out.logits[:, -1]

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows (in this order); columns padded in every kept row are dropped."""
        if len(rows) == len(self) and rows == list(range(len(self))):
            return
        if not rows:
            self.cache = None
            self.mask = self.mask[:0, :0]
            self.positions = self.positions[:0]
            return
        index = torch.tensor(rows, device=self.device)
        mask = self.mask[index]
        start = int((mask.sum(0) > 0).nonzero()[0])
        self.mask, self.positions = mask[:, start:], self.positions[index]
        for layer in self.cache.layers:
            layer.keys = layer.keys[index, :, start:]
            layer.values = layer.values[index, :, start:]
