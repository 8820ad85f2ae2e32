"""Settings for learning one skill: the LoRA, the optimiser, replay and merging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .merge import MergeSpec

_LLAMA_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class SkillConfigError(ValueError):
    """A setting is out of range; the message names it and the allowed values."""


@dataclass
class SkillConfig:
    """How a skill is trained, replayed and merged.

    Defaults suit SmolLM2-135M-Instruct on a CPU: a few hundred examples train in minutes.
    """

    rank: int = 8
    """LoRA rank r."""
    alpha: float = 16.0
    """LoRA alpha; the update is scaled by alpha / rank."""
    dropout: float = 0.05
    """Dropout on the LoRA input."""
    targets: tuple[str, ...] = _LLAMA_LINEARS
    """Names (suffixes) of the linear modules that get a LoRA."""
    lr: float = 5e-4
    """Peak AdamW learning rate (linear warm-up over 5% of the steps, then linear decay)."""
    weight_decay: float = 0.0
    epochs: int = 2
    """Passes over the new skill's examples."""
    min_steps: int = 0
    """More passes are made until the skill's own phase has at least this many steps (tiny skills)."""
    batch_size: int = 8
    max_length: int = 512
    """Prompt + answer tokens kept per example (the prompt is cut from the left)."""
    max_batch_tokens: int = 1024
    """Most padded tokens per forward pass: a larger batch runs as micro-batches whose gradients
    add up to the same update, so memory stays bounded (3.5 GB for 8 long examples on SmolLM2 at 1024)."""
    grad_clip: float = 1.0
    replay_ratio: float = 0.0
    """Replayed examples per new example while the skill is learned (0 = no replay, 1 = as many)."""
    consolidation_steps: int = 0
    """Replay-only optimiser steps after the skill's own phase (each one batch of replay)."""
    replay_per_skill: int = 200
    """Examples of each learned skill the rehearsal store keeps (real or synthesized)."""
    merge: Literal["sequential", "parallel", "ema"] = "sequential"
    """How the skill's task vector joins the earlier skills' (adapters/merge.py): sequential scales it
    by merge_alpha; parallel takes the mean of all applied parallel skills (times merge_alpha); ema
    keeps ema_lambda of what was merged before and adds (1 - ema_lambda) of this one."""
    merge_alpha: float = 1.0
    """Sequential merging: theta_t = (1 - a) theta_{t-1} + a theta_t*, i.e. the delta is scaled by a."""
    ema_lambda: float = 0.5
    """EMA merging: theta <- l theta + (1 - l) tau_t over the skills' task vectors (0 < l < 1)."""
    orthogonal_lambda: float = 0.0
    """O-LoRA: weight of sum |A_past A_new^T| keeping the new LoRA A out of earlier skills' subspaces (0 = off)."""
    ewc: bool = False
    """Penalise changes of the merged update where the earlier skills' diagonal Fisher is large."""
    ewc_lambda: float = 100.0
    """Weight of the EWC penalty sum F * dW**2 (used only when ewc is on)."""
    ewc_batches: int = 16
    """Replay batches used to estimate the diagonal Fisher."""
    seed: int = 0

    def __post_init__(self) -> None:
        self.targets = tuple(self.targets)
        checks = {
            "rank": self.rank >= 1,
            "alpha": self.alpha > 0,
            "dropout": 0.0 <= self.dropout < 1.0,
            "targets": len(self.targets) > 0,
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "epochs": self.epochs >= 1,
            "min_steps": self.min_steps >= 0,
            "batch_size": self.batch_size >= 1,
            "max_length": self.max_length >= 8,
            "max_batch_tokens": self.max_batch_tokens >= 1,
            "grad_clip": self.grad_clip > 0,
            "replay_ratio": self.replay_ratio >= 0,
            "consolidation_steps": self.consolidation_steps >= 0,
            "replay_per_skill": self.replay_per_skill >= 0,
            "merge": self.merge in ("sequential", "parallel", "ema"),
            "merge_alpha": 0.0 < self.merge_alpha <= 1.0,
            "ema_lambda": 0.0 < self.ema_lambda < 1.0,
            "ewc_lambda": self.ewc_lambda >= 0,
            "orthogonal_lambda": self.orthogonal_lambda >= 0,
            "ewc_batches": self.ewc_batches >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise SkillConfigError(
                f"invalid skill setting(s): {values}; rank, epochs, batch_size >= 1, lr > 0, "
                "0 <= dropout < 1, replay_ratio >= 0, 0 < merge_alpha <= 1, 0 < ema_lambda < 1, "
                "merge in sequential, parallel, ema"
            )

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    @property
    def merge_spec(self) -> MergeSpec:
        return MergeSpec(self.merge, self.merge_alpha, self.ema_lambda)
