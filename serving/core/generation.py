"""Token-by-token decoding on the shared model, with sampling and stop strings.

A small loop over the KV cache rather than ``model.generate``: it streams text as it decodes,
holds back text that might be the start of a stop string, and counts tokens for ``usage``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .errors import InvalidInputError


MIN_TEMPERATURE = 1e-3
"""Smallest temperature above 0 (0 is greedy); below it the scaled logits overflow."""
MIN_TOP_P = 1e-3
"""Smallest top_p."""


@dataclass
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 1.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InvalidInputError("max_tokens must be at least 1")
        if not (self.temperature == 0.0 or MIN_TEMPERATURE <= self.temperature <= 2.0):
            raise InvalidInputError(f"temperature must be 0 (greedy) or between {MIN_TEMPERATURE} and 2")
        if not MIN_TOP_P <= self.top_p <= 1.0:
            raise InvalidInputError(f"top_p must be between {MIN_TOP_P} and 1")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise InvalidInputError("seed must be in [0, 2**63)")
        if len(self.stop) > 4 or any(not s for s in self.stop):
            raise InvalidInputError("stop takes at most 4 non-empty strings")


@dataclass
class Piece:
    """A chunk of decoded text; the last one carries ``finish_reason``."""

    text: str
    finish_reason: str | None = None
    completion_tokens: int = 0


def _sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
    if params.temperature == 0.0:
        return int(logits.argmax())
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < params.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = model.generation_config.eos_token_id
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


def decode_stream(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    input_ids: list[int],
    params: SamplingParams,
) -> Iterator[Piece]:
    """Yield text pieces; the caller holds the model's read lock."""
    device = next(model.parameters()).device
    generator = None
    if params.seed is not None:
        generator = torch.Generator(device="cpu").manual_seed(params.seed)
    eos = stop_token_ids(model, tokenizer)
    holdback = max((len(s) for s in params.stop), default=1) - 1
    generated: list[int] = []
    emitted = 0
    past = None
    step_ids = torch.tensor([input_ids], device=device)
    finish = "length"
    for _ in range(params.max_tokens):
        with torch.inference_mode():
            out = model(input_ids=step_ids, past_key_values=past, use_cache=True)
        past = out.past_key_values
        token = _sample(out.logits[0, -1].float().cpu(), params, generator)
        if token in eos:
            finish = "stop"
            break
        generated.append(token)
        step_ids = torch.tensor([[token]], device=device)
        text = tokenizer.decode(generated, skip_special_tokens=True)
        cut = min((i for s in params.stop if (i := text.find(s, max(emitted - len(s), 0))) >= 0), default=-1)
        if cut >= 0:
            yield Piece(text[emitted:cut], "stop", len(generated))
            return
        if text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the rest
            continue
        ready = len(text) - holdback
        if ready > emitted:
            yield Piece(text[emitted:ready], None, len(generated))
            emitted = ready
    text = tokenizer.decode(generated, skip_special_tokens=True)
    yield Piece(text[emitted:], finish, len(generated))
