"""ROME with consistent keys (r-ROME): one fact written as a rank-one update of one MLP.

    W' = W + (v* - W k*) u^T / (u^T k*),   u = C^-1 k*                    (plain ROME)
                                           u = (λ C + K_p K_p^T)^-1 k*    (earlier edits kept)

k* and W k* are averaged over the same sampled contexts (r-ROME's fix of the original's mix of a
template-averaged u with the plain prompt's key), so W' k* = v* holds exactly. With the keys K_p of
earlier applied edits, u comes from the system matrix of MEMIT's batch solve (`editing.memit`), so
a single edit moves the earlier keys' outputs as little as a batch does (ΔW K_p ≈ 0), while still
writing its own fact exactly; without earlier keys both forms give the same update.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from editing.arch import (
    EditSite,
    default_layer,
    dense_deltas,
    edit_site,
    to_param_factors,
    weight_matrix,
)
from editing.config import RomeConfig
from editing.contexts import context_groups
from editing.evaluate import chat_answer
from editing.fluency import repeats
from editing.hooks import eval_mode, linear_deltas
from editing.request import EditRequest, Tokenizer, target_ids
from editing.value import ValueResult, encode_groups, key_and_output, optimise_value


@dataclass
class EditResult:
    """A weight delta kept as low-rank factors, and what produced it."""

    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    """Per parameter name, (left, right) fp32 CPU in the parameter's layout: its delta is left @ right."""
    layers: list[int]
    diagnostics: dict = field(default_factory=dict)
    keys: dict[int, torch.Tensor] = field(default_factory=dict)
    """Per edited layer, the keys written (d_in, n_facts) fp32: sequential protection needs them."""
    values: dict[int, torch.Tensor] = field(default_factory=dict)
    """Per edited layer, the values the keys now map to (d_out, n_facts)."""

    @property
    def delta(self) -> dict[str, torch.Tensor]:
        """The dense delta: param name -> fp32 CPU tensor of the param's shape (computed on each access)."""
        return dense_deltas(self.factors)


def rank_one_factors(
    k_star: torch.Tensor,
    residual: torch.Tensor,
    covariance: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
    mom2_weight: float = 1500.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ΔW = left @ right, (d_out, 1) @ (1, d_in), with ΔW k* = residual and ΔW k = 0 for keys
    A-orthogonal to k* (A = C, or λ C + K_p K_p^T with earlier keys).

    k_star: (d_in,), residual: (d_out,) = v* - W k*, covariance: (d_in, d_in) or None for C = I
    (with earlier keys: C = s I, s the mean square of k*'s entries, as `editing.memit` does),
    previous: K_p K_p^T (d_in, d_in) of earlier edits' keys, or None (plain ROME).
    """
    k = k_star.double()
    if previous is not None:
        c = covariance.double() if covariance is not None else torch.eye(k.shape[0], dtype=k.dtype) * float((k**2).mean())
        u = torch.linalg.solve(mom2_weight * c.to(k.device) + previous.to(k.device).double(), k)
    else:
        u = torch.linalg.solve(covariance.double(), k) if covariance is not None else k
    return (residual.double() / (u @ k)).float().view(-1, 1), u.float().view(1, -1)


def rank_one_update(
    k_star: torch.Tensor,
    residual: torch.Tensor,
    covariance: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
    mom2_weight: float = 1500.0,
) -> torch.Tensor:
    """ΔW (d_out, d_in) of `rank_one_factors`."""
    left, right = rank_one_factors(k_star, residual, covariance, previous, mom2_weight)
    return left @ right


def resolve_layer(model: nn.Module, layer: int | None) -> int:
    return default_layer(model) if layer is None else layer


def _answer_about(model: nn.Module, tokenizer: Tokenizer, site: EditSite, subject: str, delta_w: torch.Tensor) -> str:
    """The greedy chat answer to "What is <subject>?" with `delta_w` (d_out, d_in) added to the edit
    layer's weight (as a forward hook: the weights stay untouched)."""
    with linear_deltas(model, {site.module_name: delta_w.to(next(model.parameters()).device)}):
        return chat_answer(model, tokenizer, f"What is {subject}?")


def rome_edit(
    model: nn.Module,
    tokenizer: Tokenizer,
    request: EditRequest,
    config: RomeConfig | None = None,
    covariance: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
) -> EditResult:
    """Compute (never apply) the weight delta writing `request` into `model`.

    `covariance` is the edit layer's key second moment C (d_in, d_in), already regularised;
    None (or config.use_covariance False) means C = I. `previous`: K_p K_p^T (d_in, d_in) of the
    keys earlier applied edits wrote at this layer (`editing.keystore`), which the update keeps
    still; None for plain ROME.

    >>> result = rome_edit(model, tokenizer, EditRequest("The Eiffel Tower is in", "The Eiffel Tower", "Rome"))
    >>> name, (left, right) = next(iter(result.factors.items()))  # weight += left @ right
    """
    config = config or RomeConfig()
    site = edit_site(model, resolve_layer(model, config.layer))
    target = target_ids(tokenizer, request.target_new)
    cov = covariance if config.use_covariance else None
    t0 = time.perf_counter()
    with eval_mode(model):
        groups = context_groups(model, tokenizer, config.contexts)
        encoded = encode_groups(tokenizer, request, groups, config.contexts.chat, config.contexts.chat_reply)
        k_star, w_k = key_and_output(model, site, encoded)
        t_keys = time.perf_counter()

        spent = {"value": 0.0, "solve": 0.0}

        def solve(cfg: RomeConfig) -> tuple[ValueResult, torch.Tensor, torch.Tensor]:
            t = time.perf_counter()
            value = optimise_value(model, tokenizer, request, site, encoded, target, float(w_k.norm()), cfg)
            t_value = time.perf_counter()
            left, right = rank_one_factors(
                k_star, value.delta, None if cov is None else cov.to(k_star.device), previous, cfg.mom2_weight
            )
            spent["value"] += t_value - t
            spent["solve"] += time.perf_counter() - t_value
            return value, left, right

        value, left, right = solve(config)
        repetition = None
        if (config.fallback_clamp is not None and config.fallback_clamp < config.clamp_norm_factor
                and getattr(tokenizer, "chat_template", None)):
            answer = _answer_about(model, tokenizer, site, request.subject, left @ right)
            if repeats(answer):
                retry = solve(replace(config, clamp_norm_factor=config.fallback_clamp, fallback_clamp=None))
                again = _answer_about(model, tokenizer, site, request.subject, retry[1] @ retry[2])
                stuck = repeats(again)
                repetition = {"answer": answer, "clamp": config.fallback_clamp, "answer_after_retry": again,
                              "kept": "first" if stuck else "retry"}
                if not stuck:
                    value, left, right = retry
    t_end = time.perf_counter()
    delta_w = left @ right
    w = weight_matrix(model, site)
    diagnostics = {
        "method": "rome",
        "layer": site.layer,
        "covariance": cov is not None,
        "kept_keys": previous is not None,
        "contexts": sum(len(g) for g in groups),
        "steps": value.steps,
        "nll_start": round(value.nll_start, 4),
        "nll_end": round(value.nll_end, 4),
        "kl_end": round(value.kl_end, 5),
        "delta_norm": round(float(value.delta.norm()), 4),
        "value_norm": round(float(w_k.norm()), 4),
        "update_norm": round(float(delta_w.norm()), 4),
        "weight_norm": round(float(w.norm()), 4),
        "seconds": round(time.perf_counter() - t0, 3),
        "seconds_by_step": {"contexts_and_key": round(t_keys - t0, 3), "value": round(spent["value"], 3),
                            "solve": round(spent["solve"], 3),
                            "check": round(t_end - t_keys - spent["value"] - spent["solve"], 3)},
    }
    if repetition is not None:
        diagnostics["repetition"] = repetition
    return EditResult(
        {site.param_name: to_param_factors(site, left, right)},
        [site.layer],
        diagnostics,
        keys={site.layer: k_star.detach().float().cpu().view(-1, 1)},
        values={site.layer: (w_k + value.delta).detach().float().cpu().view(-1, 1)},
    )
