"""A scope gate for written edits: each fact's update acts only on keys like the fact's own key.

An edit writes ΔW = Σ_j r_j u_j^T into an MLP output projection (one term per fact: ROME's rank
one, MEMIT's columns). Any key k moves by Σ_j r_j (u_j·k). For other subjects' keys u_j·k is small
but not zero, and on a 135M model that leak alone changes greedy answers to unrelated questions.

The gate leaves the weights as written and corrects the module's output:

    out -= Σ_j r_j (u_j·k) (1 - g_j(k)),   g_j(k) = clamp((cos_C(k, k_j) - low) / (high - low), 0, 1)

with k_j fact j's key and cos_C the cosine in the C^-1 metric (C the layer's key second moment):
a key at least ``high`` alike gets fact j's whole update, one below ``low`` none of it (the scope
of GRACE and WISE, kept on the written weights). The weights, their fingerprint and every revert
stay exactly as without the gate; the gate is derived from the applied edits alone.

A caller that knows a whole sequence is about none of the edited subjects takes every update out
of its rows for the forward passes it runs inside :func:`rows_outside` (g = 0 there: the base
model's output exactly).
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from editing.arch import edit_site


@dataclass(frozen=True)
class GateConfig:
    """Cosines (C^-1 metric) where a fact's update starts to act and where it acts in full.

    Chosen on CounterFact validation cases 0-19: the fact's own prompt, its rephrase and its chat
    question have keys at cosine 0.34-0.95 to the written key; unrelated chat questions 0.06-0.12
    (one 0.46), other subjects with the same relation 0.01-0.34."""

    low: float = 0.15
    high: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high <= 1:
            raise ValueError(f"GateConfig needs 0 <= low < high <= 1, got {self.low}, {self.high}")


@dataclass(frozen=True)
class WrittenFacts:
    """One applied edit as the gate sees it: per parameter its factors (parameter layout), per
    layer the keys written (d_in, n_facts), in the factors' order."""

    factors: Mapping[str, tuple[torch.Tensor, torch.Tensor]]
    keys: Mapping[int, torch.Tensor]


_Chunk = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""One edit's terms at one layer: r_j (d_out, N), u_j (N, d_in), whitened unit keys (N, d_in)."""


@dataclass(frozen=True)
class _LayerState:
    left: torch.Tensor  # (d_out, N): r_j
    right: torch.Tensor  # (N, d_in): u_j
    keys: torch.Tensor  # (N, d_in): whitened unit keys
    whiten: torch.Tensor | None  # (d_in, d_in): M with M^T M = C^-1, or None for C = I


_scope = threading.local()


@contextmanager
def rows_outside(outside: torch.Tensor | None) -> Iterator[None]:
    """Forward passes on this thread, inside the block, take every gated update out of the batch rows
    where ``outside`` (bool, one per row) is True; None changes nothing."""
    before = getattr(_scope, "outside", None)
    _scope.outside = outside
    try:
        yield
    finally:
        _scope.outside = before


class _LayerGate:
    """The forward hook of one edit module; ``state`` is swapped whole, so a forward pass sees one state."""

    def __init__(self, config: GateConfig) -> None:
        self.config = config
        self.state: _LayerState | None = None

    def __call__(self, _module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        s = self.state
        if s is None:
            return output
        x = args[0].to(s.right.dtype)
        w = x if s.whiten is None else x @ s.whiten.t()
        cos = (w @ s.keys.t()) / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        g = ((cos - self.config.low) / (self.config.high - self.config.low)).clamp(0.0, 1.0)
        outside = getattr(_scope, "outside", None)
        if outside is not None:
            if x.dim() != 3 or outside.shape != (x.shape[0],):
                raise ValueError(f"rows_outside: {tuple(outside.shape)} flags for a batch of shape {tuple(x.shape)}")
            g = g.masked_fill(outside.to(g.device)[:, None, None], 0.0)
        leak = (x @ s.right.t()) * (1.0 - g)
        return output - (leak @ s.left.t()).to(output.dtype)


class EditGate:
    """The gate on one model: a hook per edit module, fed by :meth:`set` with the applied edits.

    >>> gate = EditGate(model, GateConfig())
    >>> gate.set([WrittenFacts(result.factors, result.keys)], covariances)  # after adding result.delta
    """

    def __init__(self, model: nn.Module, config: GateConfig) -> None:
        self.model = model
        self.config = config
        self._whiten: dict[int, torch.Tensor] = {}
        self._hooks: dict[int, _LayerGate] = {}
        self._prepared: dict[int, tuple[WrittenFacts, dict[int, _Chunk]]] = {}
        """By id, the edits of the last :meth:`set` with their prepared terms."""

    def _whitener(self, layer: int, covariances: Mapping[int, torch.Tensor] | None,
                  device: torch.device) -> torch.Tensor | None:
        """M = R^-1 with C = R R^T, so |M k|^2 = k^T C^-1 k (kept per layer); None without C."""
        if layer not in self._whiten:
            c = (covariances or {}).get(layer)
            if c is None:
                return None
            self._whiten[layer] = torch.linalg.inv(torch.linalg.cholesky(c.double())).float().to(device)
        return self._whiten[layer]

    def set(self, edits: Iterable[WrittenFacts], covariances: Mapping[int, torch.Tensor] | None = None) -> None:
        """Gate exactly these edits (all that are applied, oldest first); layers without any are freed.
        ``covariances``: C per layer (one model's C never changes, so a layer's first one is kept);
        None for C = I. An edit object passed to the previous call is not prepared again, so a change
        costs the new edits' whitening, not all of them."""
        prepared: dict[int, tuple[WrittenFacts, dict[int, _Chunk]]] = {}
        parts: dict[int, list[_Chunk]] = {}
        for edit in edits:
            known = self._prepared.get(id(edit))  # the entry holds the edit, so its id is not reused
            prepared[id(edit)] = known or (edit, self._prepare(edit, covariances))
            for layer, chunk in prepared[id(edit)][1].items():
                parts.setdefault(layer, []).append(chunk)
        self._prepared = prepared
        for layer in set(self._hooks) - set(parts):
            self._hooks[layer].state = None
        for layer, chunks in parts.items():
            lefts, rights, keys = zip(*chunks)
            self._hook(layer).state = _LayerState(torch.cat(lefts, dim=1), torch.cat(rights), torch.cat(keys),
                                                  self._whiten.get(layer))

    def _hook(self, layer: int) -> _LayerGate:
        if layer not in self._hooks:
            hook = _LayerGate(self.config)
            self.model.get_submodule(edit_site(self.model, layer).module_name).register_forward_hook(hook)
            self._hooks[layer] = hook
        return self._hooks[layer]

    def _prepare(self, edit: WrittenFacts, covariances: Mapping[int, torch.Tensor] | None) -> dict[int, _Chunk]:
        """Per layer, the edit's terms as the hook takes them (see ``_Chunk``), fp32 on the model's device."""
        device = next(self.model.parameters()).device
        out: dict[int, _Chunk] = {}
        for layer, keys in edit.keys.items():
            site = edit_site(self.model, layer)
            left, right = edit.factors[site.param_name]
            if site.transposed:  # Conv1D stores (d_in, d_out): its factors are the transposes
                left, right = right.t(), left.t()
            if left.shape[1] != keys.shape[1]:
                raise ValueError(f"layer {layer}: {left.shape[1]} update terms but {keys.shape[1]} keys")
            k = keys.t().float().to(device)
            whiten = self._whitener(layer, covariances, device)
            if whiten is not None:
                k = k @ whiten.t()
            k = k / k.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            out[layer] = (left.float().to(device), right.float().to(device), k)
        return out
