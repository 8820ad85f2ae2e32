"""Batch edits spread over several layers (MEMIT), protected for long sequences of edits.

For layers l_1 < ... < l_m and facts i = 1..N:
  z_i  = residual after l_m at subject i's last token + delta_i   (delta_i optimised as ROME's v*)
  per layer, ascending, with the earlier layers' updates active (through hooks, not weights):
    K  = keys at l (d_in, N),   R = (z - current residual) / (layers left)   (d_out, N)
    MEMIT:     ΔW = R K^T (λ C + K_p K_p^T + K K^T)^-1
    AlphaEdit: ΔW = R K^T P (K K^T P + K_p K_p^T P + α I)^-1
  with K_p K_p^T the keys of every earlier applied edit (ΔW K_p ≈ 0: earlier edits are kept) and,
  for AlphaEdit, P the projector onto the null space of C (keys the model uses are left alone).
  MEMIT's soft λC is the default: on SmolLM2's 1,536-wide MLP the null space holding 2 % of C's
  energy has ~190 dimensions, too few for hundreds of facts (see README, "Weight edits").
  Keys and values are averaged over the same sampled contexts, as in r-ROME.
"""
from __future__ import annotations

import time
import weakref
from contextlib import ExitStack
from dataclasses import dataclass, field

import torch
from torch import nn

from editing.arch import (
    EditSite,
    default_layer,
    edit_site,
    module,
    num_layers,
    to_param_factors,
)
from editing.config import ContextConfig, RomeConfig
from editing.contexts import context_groups
from editing.hooks import capture, eval_mode, linear_deltas
from editing.request import EditRequest, Tokenizer, target_ids
from editing.rome import EditResult
from editing.value import (
    MAX_ROWS,
    ValueResult,
    context_rows,
    encode_groups,
    keys_and_outputs,
    layout,
    optimise_values,
    per_fact_mean,
)


@dataclass
class MemitConfig:
    """Multi-layer batch editing; `nullspace` switches MEMIT's solve to AlphaEdit's."""

    layers: tuple[int, ...] | None = None
    """Edit layers; None: five layers ending at `default_layer(model) + 2`."""
    value: RomeConfig = field(
        default_factory=lambda: RomeConfig(contexts=ContextConfig(lengths=(10,), per_length=5))
    )
    """Optimisation of each fact's residual delta (its `layer` is ignored)."""
    nullspace: bool = False
    """AlphaEdit's null-space projection (True) or MEMIT's λC regulariser (False)."""
    nullspace_energy: float = 0.02
    """P spans the eigenvectors of C whose eigenvalues sum to this share of its trace."""
    l2: float = 1e-2
    """α, AlphaEdit's ridge, in units of the batch's mean squared projected key norm |P k|^2."""
    mom2_weight: float = 1500.0
    """λ, MEMIT's weight of C (C is the mean k k^T per token). 15,000 (MEMIT's GPT-J value) wrote
    only ~73 % of SmolLM2 edits; 1,500 writes them, chosen on CounterFact cases 3000-3299."""

    def __post_init__(self) -> None:
        if self.layers is not None and (not self.layers or list(self.layers) != sorted(set(self.layers))):
            raise ValueError("MemitConfig.layers must be distinct and ascending")
        if not 0 < self.nullspace_energy < 1:
            raise ValueError("MemitConfig.nullspace_energy must be in (0, 1)")
        if self.l2 <= 0 or self.mom2_weight <= 0:
            raise ValueError("MemitConfig.l2 and mom2_weight must be > 0")


def memit_layers(model: nn.Module, layers: tuple[int, ...] | None) -> list[int]:
    if layers is not None:
        return list(layers)
    top = min(num_layers(model) - 1, default_layer(model) + 2)
    return list(range(max(0, top - 4), top + 1))


_PROJECTORS: dict[tuple[int, float], tuple[weakref.ref, torch.Tensor]] = {}


def nullspace_projector(covariance: torch.Tensor, energy: float) -> torch.Tensor:
    """P = U U^T over C's smallest eigenvectors holding `energy` of its trace (d_in, d_in).

    Cached per covariance tensor: the eigendecomposition costs seconds at d_in = 1536 on a CPU.
    """
    key = (id(covariance), energy)
    hit = _PROJECTORS.get(key)
    if hit is not None and hit[0]() is covariance:
        return hit[1]
    for stale in [k for k, (ref, _) in _PROJECTORS.items() if ref() is None]:
        del _PROJECTORS[stale]
    projector = _projector(covariance, energy)
    _PROJECTORS[key] = (weakref.ref(covariance), projector)
    return projector


def _projector(covariance: torch.Tensor, energy: float) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(covariance.double())
    share = torch.cumsum(evals.clamp_min(0), 0) / evals.clamp_min(0).sum()
    keep = share <= energy
    u = evecs[:, keep]
    return (u @ u.t()).float()


def _block(model: nn.Module, site: EditSite) -> nn.Module:
    return model.get_submodule(site.module_name.rsplit(".mlp.", 1)[0])


@torch.no_grad()
def _keys_and_residuals(model, sites, encoded_all, last: EditSite, deltas):
    """Per fact, mean keys at every site (d_in, N) and residual after the last layer (d, N),
    with `deltas` hooked."""
    rows = context_rows(encoded_all)
    keys: dict[int, list[torch.Tensor]] = {s.layer: [] for s in sites}
    resid, facts, block_out = [], [], []

    def keep(_m, _a, out) -> None:
        block_out.append(out[0] if isinstance(out, tuple) else out)

    for start in range(0, len(rows), MAX_ROWS):
        lay = layout(rows[start : start + MAX_ROWS], next(model.parameters()).device)
        with linear_deltas(model, deltas), ExitStack() as stack:
            caps = {s.layer: stack.enter_context(capture(module(model, s))) for s in sites}
            stack.callback(_block(model, last).register_forward_hook(keep).remove)
            model(input_ids=lay.ids, attention_mask=lay.mask, use_cache=False)
        for layer, cap in caps.items():
            keys[layer].append(cap.inputs[0][:, lay.head - 1].float())
        resid.append(block_out.pop()[:, lay.head - 1].float())
        facts.append(lay.fact)
    fact, n = torch.cat(facts), len(encoded_all)
    return (
        {layer: per_fact_mean(torch.cat(v), fact, n).t() for layer, v in keys.items()},
        per_fact_mean(torch.cat(resid), fact, n).t(),
    )


@dataclass
class Written:
    updates: dict[int, torch.Tensor]
    """Per layer ΔW (d_out, d_in) fp32."""
    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    """Per parameter name, ΔW's two factors in the parameter's layout."""
    keys: dict[int, torch.Tensor]
    """Per layer, the facts' keys (d_in, N) fp32 on CPU."""


@torch.no_grad()
def spread_over_layers(
    model: nn.Module,
    sites: list[EditSite],
    encoded_all,
    deltas: torch.Tensor,
    covariances: dict[int, torch.Tensor] | None,
    config: MemitConfig,
    previous_keys: dict[int, torch.Tensor] | None = None,
) -> Written:
    """Layer by layer (ascending), the update that moves each fact's residual after the last site by
    its column of `deltas` (d, N), the earlier layers' updates active through hooks."""
    _check_covariances([s.layer for s in sites], covariances, config)
    last = sites[-1]
    keys, h = _keys_and_residuals(model, sites, encoded_all, last, {})
    z = h + deltas.to(h.device)
    hooked: dict[str, torch.Tensor] = {}
    written = Written({}, {}, {})
    for i, site in enumerate(sites):
        if i:  # the first layer sees no update yet: the pass above is its pass
            keys, h = _keys_and_residuals(model, sites, encoded_all, last, hooked)
        k = keys[site.layer].double()
        r = ((z - h) / (len(sites) - i)).double()
        c = covariances[site.layer] if covariances is not None else None
        right = _solve(k, c, config, previous_keys.get(site.layer) if previous_keys else None)
        # ΔW = R K^T A^-1 = r @ (A^-1 K)^T: rank <= facts, stored as its two factors.
        written.factors[site.param_name] = to_param_factors(site, r.float(), right.float())
        dw = (r @ right).float()
        written.updates[site.layer] = dw
        written.keys[site.layer] = k.float().cpu()
        hooked[site.module_name] = dw
    return written


def _solve(k: torch.Tensor, c: torch.Tensor | None, config: MemitConfig, prev: torch.Tensor | None) -> torch.Tensor:
    """(A^-1 K)^T for the layer's system matrix A (see the module docstring), (N, d_in) float64.

    c None: C = s I with s the keys' mean square per dimension, the scale of a real C's diagonal
    (a bare I would make λ mean something else for every model and layer)."""
    kk = k @ k.t() + (prev.to(k.device).double() if prev is not None else 0)
    if c is None:
        c = torch.eye(k.shape[0], dtype=k.dtype, device=k.device) * float((k**2).mean())
    if config.nullspace:
        p = nullspace_projector(c, config.nullspace_energy).to(k.device).double()
        alpha = config.l2 * float(((p @ k) ** 2).sum(0).mean())
        eye = torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
        return torch.linalg.solve(p @ kk + alpha * eye, p @ k).t()
    return torch.linalg.solve(config.mom2_weight * c.to(k.device).double() + kk, k).t()


def _check_covariances(layers: list[int], covariances: dict[int, torch.Tensor] | None, config: MemitConfig) -> None:
    if covariances is None and config.nullspace:
        raise ValueError("AlphaEdit needs the key covariance C: its null space is where it writes")
    if covariances is not None and any(layer not in covariances for layer in layers):
        raise ValueError(f"memit_edit needs the key covariance of layers {layers}")


def batch_values(
    model: nn.Module, tokenizer: Tokenizer, requests: list[EditRequest], last: EditSite, config: MemitConfig
) -> tuple[list, list[ValueResult]]:
    """Each fact's encoded contexts and its optimised residual delta at `last` (the costly part)."""
    targets = [target_ids(tokenizer, r.target_new) for r in requests]  # bad targets fail before any work
    groups = context_groups(model, tokenizer, config.value.contexts)
    contexts = config.value.contexts
    encoded_all = [encode_groups(tokenizer, r, groups, contexts.chat, contexts.chat_reply) for r in requests]
    _, outs = keys_and_outputs(model, last, encoded_all)
    values = optimise_values(
        model, tokenizer, requests, last, encoded_all, targets, outs.norm(dim=1).tolist(), config.value
    )
    return encoded_all, values


def memit_edit(
    model: nn.Module,
    tokenizer: Tokenizer,
    requests: list[EditRequest],
    config: MemitConfig | None = None,
    covariances: dict[int, torch.Tensor] | None = None,
    previous_keys: dict[int, torch.Tensor] | None = None,
) -> EditResult:
    """Weight delta writing all `requests` at once (never applied here).

    covariances: per layer C (d_in, d_in), or None for C = I (MEMIT only). previous_keys: per
    layer K_p K_p^T of the edits already applied, or None.
    """
    config = config or MemitConfig()
    if not requests:
        raise ValueError("a batch needs at least one edit")
    layers = memit_layers(model, config.layers)
    sites = [edit_site(model, layer) for layer in layers]
    _check_covariances(layers, covariances, config)
    t0 = time.perf_counter()
    with eval_mode(model):
        encoded_all, values = batch_values(model, tokenizer, requests, sites[-1], config)
        nll = [(v.nll_start, v.nll_end) for v in values]
        deltas = torch.stack([v.delta for v in values], 1)
        written = spread_over_layers(model, sites, encoded_all, deltas, covariances, config, previous_keys)
    diagnostics = {
        "method": "alphaedit" if config.nullspace else "memit",
        "layers": layers,
        "facts": len(requests),
        "nll_start": round(sum(a for a, _ in nll) / len(nll), 4),
        "nll_end": round(sum(b for _, b in nll) / len(nll), 4),
        "update_norms": {str(layer): round(float(dw.norm()), 4) for layer, dw in written.updates.items()},
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return EditResult(written.factors, layers, diagnostics, keys=written.keys)
