"""A batch of sequences decoded together over one left-padded KV cache.

Rows join (their prompts prefilled together) and leave (finished, cancelled) between steps:

    cache  (rows, heads, columns, head_dim)     mask (rows, columns): 1 = a real token
    row 0  [ . . k k k k k k ]                   0 0 1 1 1 1 1 1
    row 1  [ k k k k k k k k ]                   1 1 1 1 1 1 1 1
    row 2  [ . . . . . k k k ]   <- joined late  0 0 0 0 0 1 1 1

Each row keeps its own positions (the count of its real tokens), so padding changes no row's
result: a greedy row gives the tokens it gives alone (up to float rounding of the wider matmuls).
Columns that every row has padded are trimmed when rows leave. The key/value tensors of padded
columns are zeroed, so nothing undefined can reach a softmax weight of zero. The cache's keys and
values are views of buffers with ``ROOM`` free columns, so a step writes its new column in place
(transformers' ``DynamicLayer`` concatenates, copying the whole cache at every step: a quarter of a
16-row step on CPU).

Shared prompt prefixes are prefilled once: a joining prompt that starts with at least
``MIN_PREFIX`` tokens of a recently joined one (the few-shot head of the OpenIE prompts, a shared
system prompt) reuses those tokens' keys and values, and only its own suffix is prefilled. Such a
row is laid out ``[prefix][padding][suffix]``; the hole is masked like left padding. The prefixes
live as long as the batch, which lives under the model's read lock, so they never outlast the
weights they were computed with.

A row may be outside the applied weight edits (``editing.gate.rows_outside``: a question about no
edited subject); its forward passes take every gated update out, and it reuses only prefixes
computed outside too.

Works for models whose cache layers are plain ``DynamicLayer`` (full attention: Llama, Qwen2,
SmolLM2, GPT-2...); a sliding-window or quantised cache is refused with ``UnsupportedModelError``.
"""

from __future__ import annotations

import copy
from collections import OrderedDict, deque

import torch
from transformers import PreTrainedModel
from transformers.cache_utils import DynamicLayer

from editing.gate import rows_outside

from .errors import InvalidSettingError
from .generation import last_logits_only


_Prefix = tuple[bool, tuple[int, ...]]
"""A reusable prefix: whether it was computed outside the weight edits, and its tokens."""

MIN_PREFIX = 32
"""Fewest tokens a joining prompt must share with a recent one for their prefix to be reused."""

ROOM = 64
"""Free columns a cache buffer gets when it is (re)allocated: one copy of the cache per ``ROOM`` steps."""


class UnsupportedModelError(InvalidSettingError):
    """The model's KV cache cannot be batched by rows (sliding windows, quantised layers)."""


def _common(a: list[int], b: list[int]) -> int:
    """The length of the common prefix of two token lists."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if a[:mid] == b[:mid] else (lo, mid)
    return lo


class _RoomyLayer(DynamicLayer):
    """A full-attention cache layer whose keys and values view the first columns of buffers with room
    to grow: an update writes its columns in place, and copies only when the room is used up or the
    batch replaced ``keys``/``values`` (rows joined or left)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.lazy_initialization(keys, values)
        self.keys, self.values = keys, values
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None
        self._views: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)
        """What ``update`` last set ``keys``/``values`` to: anything else was set by the batch."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
               ) -> tuple[torch.Tensor, torch.Tensor]:
        used, new = self.keys.shape[-2], key_states.shape[-2]
        buffers = self._buffers
        if buffers is None or self.keys is not self._views[0] or used + new > buffers[0].shape[-2]:
            buffers = tuple(t.new_empty(*t.shape[:-2], used + new + ROOM, t.shape[-1]) for t in (self.keys, self.values))
            buffers[0][..., :used, :], buffers[1][..., :used, :] = self.keys, self.values
            self._buffers = buffers
        buffers[0][..., used : used + new, :] = key_states
        buffers[1][..., used : used + new, :] = value_states
        self._views = self.keys, self.values = buffers[0][..., : used + new, :], buffers[1][..., : used + new, :]
        return self.keys, self.values


def _roomy(cache) -> None:
    """Give a freshly prefilled cache's layers (checked by ``_check``) room to grow in place."""
    cache.layers = [_RoomyLayer(layer.keys, layer.values) for layer in cache.layers]


def _check(cache) -> None:
    for layer in cache.layers:
        if type(layer) is not DynamicLayer:
            raise UnsupportedModelError(f"batched decoding needs full-attention cache layers, not {type(layer).__name__}")


def _left_pad(t: torch.Tensor, columns: int, dim: int) -> torch.Tensor:
    if columns == 0:
        return t
    shape = list(t.shape)
    shape[dim] = columns
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class KVBatch:
    """The rows decoding together; all methods run on one thread, under the model's read lock."""

    def __init__(self, model: PreTrainedModel, max_prefixes: int = 4) -> None:
        self.model = model
        self.max_prefixes = max_prefixes
        self._prefixes: OrderedDict[_Prefix, object] = OrderedDict()
        """Reused prompt prefixes, least recently used first: their one-row cache (None until prefilled)."""
        self._recent: deque[tuple[bool, list[int]]] = deque(maxlen=8)
        """The last prompts that joined (outside the edits or not), where new shared prefixes are found."""
        self.outside: list[bool] = []
        """Per row: outside the weight edits."""
        self.device = next(model.parameters()).device
        self.cache = None
        self.mask = torch.zeros(0, 0, dtype=torch.long, device=self.device)
        self.positions = torch.zeros(0, dtype=torch.long, device=self.device)
        """Per row: the position of its next token (its count of real tokens)."""
        self._last_logits = last_logits_only(model)

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    @torch.inference_mode()
    def join(self, prompts: list[list[int]], outside: list[bool] | None = None) -> torch.Tensor:
        """Prefill the prompts as new last rows (in order), ``outside`` the weight edits where True;
        their next-token logits (len(prompts), vocab)."""
        flags = list(outside) if outside is not None else [False] * len(prompts)
        keys = [self._prefix_of(p, f) for p, f in zip(prompts, flags)]
        logits, start = [], 0
        for end in range(1, len(prompts) + 1):  # runs of prompts with the same reused prefix
            if end == len(prompts) or keys[end] != keys[start]:
                logits.append(self._prefill(prompts[start:end], keys[start]))
                start = end
        return torch.cat(logits)

    def _prefix_of(self, prompt: list[int], outside: bool) -> _Prefix:
        """The longest known prefix of ``prompt`` computed alike (outside the edits or not); a new one
        when it shares ``MIN_PREFIX`` tokens with a recent such prompt; shorter than the prompt;
        ``(outside, ())`` for none."""
        best = max((q for f, q in self._prefixes if f == outside and len(q) < len(prompt) and tuple(prompt[: len(q)]) == q),
                   key=len, default=())
        if not best:
            shared = min(max((_common(prompt, r) for f, r in self._recent if f == outside), default=0), len(prompt) - 1)
            if shared >= MIN_PREFIX:
                best = tuple(prompt[:shared])
                self._prefixes[outside, best] = None  # prefilled on first use
                while len(self._prefixes) > self.max_prefixes:
                    self._prefixes.popitem(last=False)
        if best:
            self._prefixes.move_to_end((outside, best))
        self._recent.append((outside, prompt))
        return outside, best

    def _prefill(self, prompts: list[list[int]], key: _Prefix) -> torch.Tensor:
        """Prefill prompts that all start with the prefix of ``key`` (reused) and append them as rows;
        their logits."""
        outside, prefix = key
        shared = len(prefix)
        suffixes = [p[shared:] for p in prompts]
        width = max(len(p) for p in suffixes)
        ids = torch.tensor([[0] * (width - len(p)) + p for p in suffixes], device=self.device)
        own = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in suffixes], device=self.device)
        mask = torch.cat([own.new_ones(len(prompts), shared), own], dim=1)
        past = self._prefix_cache(key, len(prompts)) if prefix else None
        with rows_outside(torch.ones(len(prompts), dtype=torch.bool) if outside else None):
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=shared + (own.cumsum(-1) - 1).clamp(min=0),
                             past_key_values=past, use_cache=True, **self._last_logits)
        cache = out.past_key_values
        _check(cache)
        for layer in cache.layers:
            keep = mask[:, None, :, None].to(layer.keys.dtype)
            layer.keys, layer.values = layer.keys * keep, layer.values * keep
        self._append(cache, mask)
        self.outside += [outside] * len(prompts)
        return out.logits[:, -1]

    def _prefix_cache(self, key: _Prefix, rows: int):
        """A cache holding the prefix's keys and values once per row (the prefix prefilled on first use)."""
        cache = self._prefixes.get(key)
        if cache is None:
            outside, prefix = key
            with rows_outside(torch.tensor([True]) if outside else None):
                cache = self.model(input_ids=torch.tensor([prefix], device=self.device), use_cache=True,
                                   **self._last_logits).past_key_values
            _check(cache)
            self._prefixes[key] = cache
        cache = copy.deepcopy(cache)
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1)
        return cache

    def _append(self, cache, mask: torch.Tensor) -> None:
        """Add prefilled rows (their cache and mask) after the current ones, padding the narrower side."""
        positions = mask.sum(-1)
        if self.cache is None or len(self) == 0:
            _roomy(cache)
            self.cache, self.mask, self.positions = cache, mask, positions
            return
        width = mask.shape[1]
        grow, extra = max(width - self.mask.shape[1], 0), max(self.mask.shape[1] - width, 0)
        for old, new in zip(self.cache.layers, cache.layers):
            old.keys = torch.cat([_left_pad(old.keys, grow, 2), _left_pad(new.keys, extra, 2)])
            old.values = torch.cat([_left_pad(old.values, grow, 2), _left_pad(new.values, extra, 2)])
        self.mask = torch.cat([_left_pad(self.mask, grow, 1), _left_pad(mask, extra, 1)])
        self.positions = torch.cat([self.positions, positions])

    @torch.inference_mode()
    def step(self, tokens: list[int]) -> torch.Tensor:
        """Feed one token per row; the next-token logits (rows, vocab)."""
        ones = torch.ones(len(self), 1, dtype=torch.long, device=self.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        with rows_outside(torch.tensor(self.outside) if any(self.outside) else None):
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
            self.outside = []
            return
        index = torch.tensor(rows, device=self.device)
        mask = self.mask[index]
        start = int((mask.sum(0) > 0).nonzero()[0])
        self.mask, self.positions = mask[:, start:], self.positions[index]
        self.outside = [self.outside[r] for r in rows]
        for layer in self.cache.layers:
            layer.keys = layer.keys[index, :, start:]
            layer.values = layer.values[index, :, start:]
