"""Key k* and value v* of an edit at one rewrite module, averaged over sampled contexts.

Every context group batches without padding (same token counts), and the tokens before the
subject's last token are run once into a KV cache: only the tail (subject's last token, rest of
the prompt, target) is recomputed at each optimisation step.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from editing.arch import EditSite, module
from editing.config import RomeConfig
from editing.hooks import add_at_position, capture
from editing.request import EditRequest, Encoded, encode_prompt, essence_prompt


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def encode_groups(tokenizer, request: EditRequest, groups: list[list[list[int]]]) -> list[list[Encoded]]:
    return [[encode_prompt(tokenizer, request, ctx) for ctx in group] for group in groups]


@torch.no_grad()
def key_and_output(model: nn.Module, site: EditSite, encoded: list[list[Encoded]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over all contexts of the rewrite module's input (k*, d_in) and output (d_out) at the
    subject's last token, in fp32."""
    keys, outs = [], []
    dev = _device(model)
    for group in encoded:
        ids = torch.tensor([e.head + e.rest for e in group], device=dev)
        with capture(module(model, site)) as cap:
            model(input_ids=ids, use_cache=False)
        idx = group[0].subject_index
        keys.append(cap.inputs[0][:, idx].float())
        outs.append(cap.outputs[0][:, idx].float())
    return torch.cat(keys).mean(0), torch.cat(outs).mean(0)


@dataclass
class _Tail:
    past: object | None
    tail: torch.Tensor
    targets: torch.Tensor | None  # (len_t,) token ids predicted at tail positions [start, start+len_t)
    start: int


def _prepare(model: nn.Module, encoded: list[Encoded], target: list[int] | None) -> _Tail:
    dev = _device(model)
    prefix = [e.head[:-1] for e in encoded]
    extra = target[:-1] if target else []
    tail = torch.tensor([[e.head[-1]] + e.rest + extra for e in encoded], device=dev)
    past = None
    if prefix[0]:
        with torch.no_grad():
            past = model(input_ids=torch.tensor(prefix, device=dev), use_cache=True).past_key_values
    t = torch.tensor(target, device=dev) if target else None
    return _Tail(past, tail, t, len(encoded[0].rest))


def _tail_logits(model: nn.Module, item: _Tail, positions: torch.Tensor) -> torch.Tensor:
    """Log-probs (B, len(positions), V) at tail positions, computing the LM head only there."""
    past = copy.deepcopy(item.past) if item.past is not None else None
    hidden = model.base_model(input_ids=item.tail, past_key_values=past, use_cache=past is not None).last_hidden_state
    logits = model.get_output_embeddings()(hidden[:, positions])
    return torch.log_softmax(logits.float(), dim=-1)


@dataclass
class ValueResult:
    delta: torch.Tensor
    """(d_out,) fp32 added to the rewrite module's output at the subject's last token."""
    nll_start: float
    nll_end: float
    kl_end: float
    steps: int


def optimise_value(
    model: nn.Module,
    tokenizer,
    request: EditRequest,
    site: EditSite,
    encoded: list[list[Encoded]],
    target: list[int],
    v_norm: float,
    config: RomeConfig,
) -> ValueResult:
    """Find delta so that the module output + delta at the subject makes `target` likely in every
    context, keeping the '{subject} is a' distribution (KL) and ||delta|| <= clamp * v_norm."""
    mod = module(model, site)
    dev = _device(model)
    items = [_prepare(model, group, target) for group in encoded]
    ess = _prepare(model, [essence_prompt(tokenizer, request)], None)
    n_rows = sum(item.tail.shape[0] for item in items)
    positions = torch.arange(len(target), device=dev)
    d_out = model.config.hidden_size
    delta = torch.zeros(d_out, device=dev, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=config.lr)
    ess_pos = torch.tensor([ess.tail.shape[1] - 1], device=dev)
    kl_init: torch.Tensor | None = None
    nll_start = nll_val = kl_val = float("nan")
    steps = 0
    for step in range(config.steps):
        with add_at_position(mod, delta, 0):
            nll = torch.zeros((), device=dev)
            for item in items:
                logp = _tail_logits(model, item, positions + item.start)
                tok_lp = logp.gather(-1, item.targets.view(1, -1, 1).expand(logp.shape[0], -1, 1)).squeeze(-1)
                nll = nll - tok_lp.mean(1).sum()
            nll = nll / n_rows
            ess_lp = _tail_logits(model, ess, ess_pos)[0, 0]
        if kl_init is None:
            kl_init = ess_lp.detach()
            nll_start = nll.item()
        kl = (ess_lp.exp() * (ess_lp - kl_init)).sum()
        nll_val, kl_val = nll.item(), kl.item()
        if nll_val < config.early_stop_nll:
            break
        loss = nll + config.kl_factor * kl + config.weight_decay * delta.norm() / v_norm**2
        (grad,) = torch.autograd.grad(loss, [delta])
        delta.grad = grad
        opt.step()
        steps = step + 1
        with torch.no_grad():
            max_norm = config.clamp_norm_factor * v_norm
            if delta.norm() > max_norm:
                delta.mul_(max_norm / delta.norm())
    return ValueResult(delta.detach(), nll_start, nll_val, kl_val, steps)
