"""How the task vectors of the applied skills combine into the weights: sequential, parallel, EMA.

Every skill keeps its raw task vector tau_i (the LoRA's ``(alpha / r) B A``, learned on top of the
weights that were live when it trained). The weights are always

    W = W_0 + sum_i c_i * tau_i        (the applied skills, oldest first)

and a strategy only chooses the coefficients c_i from the sequence of applied skills:

    sequential  c_i = a                                   (theta_t = (1 - a) theta_{t-1} + a theta_t*)
    parallel    c_i = a / n                               (task arithmetic, the mean of n task vectors)
    ema         c_1 = prod_{k>1} l_k,  c_i = (1 - l_i) prod_{k>i} l_k
                                                          (theta <- l theta + (1 - l) tau, over skills)

Skills of each strategy are combined among themselves (a parallel skill's n counts parallel skills).
Because the coefficients are a function of the applied set, reverting a skill is exact under
every strategy: the weights are recomputed as ``W_0 + sum c_i(S') tau_i`` over the set S' without it,
which is bit for bit what they would be had it never been applied. Sequential coefficients never
change; reverting a parallel skill raises the others' 1/n to 1/(n-1); reverting an EMA skill
undoes the decay l it put on every earlier EMA skill (and the next one becomes the first, c = prod l).

>>> merge_coefficients([MergeSpec("parallel"), MergeSpec("parallel"), MergeSpec("sequential", 0.5)])
[0.5, 0.5, 0.5]
>>> merge_coefficients([MergeSpec("ema", ema_lambda=0.5)] * 3)
[0.25, 0.25, 0.5]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

Strategy = Literal["sequential", "parallel", "ema"]
STRATEGIES: tuple[str, ...] = ("sequential", "parallel", "ema")

Factors = dict[str, tuple[torch.Tensor, torch.Tensor]]
"""A low-rank task vector: parameter name -> (left (out, r), right (r, in)), fp32 CPU; tau = left @ right."""


@dataclass(frozen=True)
class MergeSpec:
    """How one skill is merged (recorded with it, so the coefficients can be recomputed at any time)."""

    strategy: Strategy = "sequential"
    alpha: float = 1.0
    """sequential: the scale a of the task vector; parallel: the total scale a shared by n skills."""
    ema_lambda: float = 0.5
    """ema: the weight l kept by what was merged before this skill (0 < l < 1)."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown merge strategy {self.strategy!r}; choose from {', '.join(STRATEGIES)}")
        if not 0.0 < self.alpha <= 1.0 or not 0.0 < self.ema_lambda < 1.0:
            raise ValueError(f"merge alpha {self.alpha} must be in (0, 1] and ema_lambda {self.ema_lambda} in (0, 1)")

    @classmethod
    def from_details(cls, details: Mapping[str, Any]) -> MergeSpec:
        """The spec a history entry recorded under ``"merge"``; entries without one were stored
        already scaled (coefficient 1)."""
        merge = details.get("merge")
        return cls(**merge) if isinstance(merge, dict) else cls()


def merge_coefficients(specs: list[MergeSpec]) -> list[float]:
    """The coefficient c_i of each applied skill's task vector, given the applied skills oldest first."""
    coefficients = [spec.alpha for spec in specs]
    parallel = [i for i, s in enumerate(specs) if s.strategy == "parallel"]
    for i in parallel:
        coefficients[i] = specs[i].alpha / len(parallel)
    ema = [i for i, s in enumerate(specs) if s.strategy == "ema"]
    kept = 1.0
    for rank, i in reversed(list(enumerate(ema))):
        coefficients[i] = kept * (1.0 if rank == 0 else 1.0 - specs[i].ema_lambda)
        kept *= specs[i].ema_lambda
    return coefficients


def dense_task_vector(factors: Factors) -> dict[str, torch.Tensor]:
    """tau as dense fp32 tensors."""
    return {name: left @ right for name, (left, right) in factors.items()}


def merged_delta(task_vectors: list[Factors], specs: list[MergeSpec]) -> dict[str, torch.Tensor]:
    """``sum_i c_i tau_i`` (fp32, CPU, summed oldest first), the change the strategies put on W_0."""
    out: dict[str, torch.Tensor] = {}
    for c, factors in zip(merge_coefficients(specs), task_vectors, strict=True):
        for name, (left, right) in factors.items():
            term = c * (left @ right)
            out[name] = out[name] + term if name in out else term
    return out
