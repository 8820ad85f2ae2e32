"""Algorithm settings for weight edits (ROME, MEMIT/AlphaEdit) and their statistics."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

ValueDtype = Literal["auto", "float32", "bfloat16"]
ChatReply = Literal["target", "echo", "both"]


@dataclass
class ContextConfig:
    """How the random prefixes that ROME averages keys and values over are sampled."""

    lengths: tuple[int, ...] = (5, 10)
    """Token lengths of the sampled prefixes; one group per length."""
    per_length: int = 5
    """Prefixes sampled per length (so 1 + len(lengths) * per_length contexts in all)."""
    seed: int = 0
    """Seed of the sampler: the same model always gets the same prefixes."""
    starts: tuple[str, ...] = ("The", "Therefore", "Because", "I", "You")
    """Words the prefixes start from (EasyEdit's choice)."""
    chat: bool = True
    """Also one context in the model's chat template: the prompt as the user's message, the
    assistant's reply as `chat_reply` says (skipped for tokenizers without a chat template)."""
    chat_reply: ChatReply = "echo"
    """The chat context's reply: "target", the bare new target; "echo", the prompt repeated and
    completed with it (the edit firing at the reply's subject too); "both", one row of each."""

    def __post_init__(self) -> None:
        if not self.lengths or any(n < 1 for n in self.lengths):
            raise ValueError("ContextConfig.lengths must be positive token counts")
        if self.per_length < 0:
            raise ValueError("ContextConfig.per_length must be >= 0")
        if not self.starts:
            raise ValueError("ContextConfig.starts must not be empty")


@dataclass
class RomeConfig:
    """Rank-one model editing with consistent keys (r-ROME)."""

    layer: int | None = None
    """Edit layer; None picks `default_layer(model)`."""
    steps: int = 25
    """Maximum Adam steps for the value v*."""
    lr: float = 0.5
    """Adam learning rate for the value delta."""
    weight_decay: float = 1e-3
    """Weight of ||delta|| / ||v||^2 in the loss."""
    kl_factor: float = 0.0625
    """Weight of the KL 'essence' term on '{subject} is a'."""
    clamp_norm_factor: float = 4.0
    """||delta|| is projected to at most this multiple of ||v||."""
    early_stop_nll: float = 5e-2
    """Stop once the mean target NLL falls below this."""
    stop_on_chat: bool = True
    """The early stop's mean NLL includes the chat-template row. Its NLL stays at 2-6 nats (the
    assistant's reply rarely starts with the bare target), so such edits run all `steps`; those
    steps raise the chat metric from 77 % to 83 % on 30 MQuAKE questions. False measures the
    plain contexts only: 0.73x the time, same CounterFact scores (bench/edit_speed.py)."""
    early_stop: Literal["nll", "most_probable"] = "nll"
    """When the value optimisation stops. "nll": once the mean target NLL is below
    `early_stop_nll`; "most_probable" (ENCORE's MPES): also stop as soon as every target token is the most probable one in every measured
    context (fewer steps, a smaller value change)."""
    value_dtype: ValueDtype = "auto"
    """Precision of the value optimisation's passes (`editing.precision`): "auto" is bfloat16 where
    the device multiplies it natively, else the model's own; "float32" always the model's own."""
    final_steps: int = 5
    """With a `value_dtype` other than the model's, the last steps run on the model as loaded: the
    chat row's thin margin is set on the weights the answers come from."""
    fallback_clamp: float | None = 1.0
    """When the edited model's greedy chat answer to "What is <subject>?" collapses into repetition
    (`editing.fluency.repeats`: "widely known as actor actor actor ..."), the value is optimised
    again with ||delta|| <= this multiple of ||v||, and the edit that does not repeat is kept
    (`editing.rome`). Not checked when None, not below `clamp_norm_factor`, or without a chat
    template. Costs one greedy answer per edit."""
    use_covariance: bool = True
    """u = C^-1 k* when True; u = k* (C = I, EasyEdit's default) when False."""
    mom2_weight: float = 1500.0
    """λ when earlier edits' keys are kept: u = (λ C + K_p K_p^T)^-1 k*, the system matrix of
    MEMIT's batch solve (`MemitConfig.mom2_weight`). Without earlier keys u is plain ROME's."""
    contexts: ContextConfig = field(default_factory=ContextConfig)

    def __post_init__(self) -> None:
        if self.layer is not None and self.layer < 0:
            raise ValueError("RomeConfig.layer must be >= 0")
        if self.steps < 1 or self.lr <= 0:
            raise ValueError("RomeConfig.steps must be >= 1 and lr > 0")
        if self.weight_decay < 0 or self.kl_factor < 0 or self.clamp_norm_factor <= 0:
            raise ValueError("RomeConfig weights must be >= 0 and clamp_norm_factor > 0")
        if self.mom2_weight <= 0:
            raise ValueError("RomeConfig.mom2_weight must be > 0")
        if self.fallback_clamp is not None and self.fallback_clamp <= 0:
            raise ValueError("RomeConfig.fallback_clamp must be > 0")
        if self.final_steps < 0:
            raise ValueError("RomeConfig.final_steps must be >= 0")
        if self.value_dtype not in get_args(ValueDtype):
            raise ValueError(f"RomeConfig.value_dtype must be auto, float32 or bfloat16, got {self.value_dtype!r}")


@dataclass
class CovarianceConfig:
    """Second moment C = E[k k^T] of an edit layer's keys."""

    n_texts: int = 128
    """Number of texts (sampled by the model, or chunks of the user's corpus)."""
    max_length: int = 128
    """Tokens per text."""
    batch_size: int = 32
    """Texts per generate / forward call."""
    seed: int = 0
    ridge: float = 1e-3
    """C + ridge * mean(diag C) * I keeps C invertible with few samples."""

    def __post_init__(self) -> None:
        if self.n_texts < 1 or self.max_length < 2 or self.batch_size < 1:
            raise ValueError("CovarianceConfig sizes must be positive (max_length >= 2)")
        if self.ridge < 0:
            raise ValueError("CovarianceConfig.ridge must be >= 0")
