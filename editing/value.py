"""Keys k* and values v* of edits at one rewrite module, averaged over sampled contexts.

Keys: the heads (the tokens up to the subject's last one) of all contexts run as one padded
batch (`layout`). Values: all rows (every context of every fact, plus each fact's essence prompt)
are packed into one sequence, each row attending only to its own tokens at its own positions
(`_Bucket`). The tokens before each subject's last token run once into a KV cache, and each
optimisation step recomputes only the tails: one pass per step over every row without pad tokens
(on a CPU the small passes of padded groups were dominated by per-call cost). Below the edit layer
the tails do not depend on the delta, so after the first step only the layers above it run
(`_layers_above`), where that is checked to give the full pass's output.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from editing.arch import EditSite, module
from editing.config import ChatReply, RomeConfig
from editing.hooks import capture, stop_after
from editing.precision import value_model
from editing.request import (
    EditRequest,
    Encoded,
    Tokenizer,
    encode_chat,
    encode_echo,
    encode_prompt,
    essence_prompt,
)

MAX_ROWS = 96
"""Rows per optimisation pass; larger batches of facts are optimised in chunks."""


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def encode_groups(
    tokenizer: Tokenizer, request: EditRequest, groups: list[list[list[int]]], chat: bool = False,
    reply: ChatReply = "echo",
) -> list[list[Encoded]]:
    """The prompt after every sampled prefix; with `chat`, plus the prompt as a chat turn."""
    encoded = [[encode_prompt(tokenizer, request, ctx) for ctx in group] for group in groups]
    if not chat:
        return encoded
    turns = [encode_chat(tokenizer, request)] if reply in ("target", "both") else []
    turns += [encode_echo(tokenizer, request)] if reply in ("echo", "both") else []
    return encoded + [[t for t in turns if t is not None]] if any(turns) else encoded


@dataclass
class Layout:
    """Rows aligned so the subject's last token of every row sits at column `head - 1`."""

    ids: torch.Tensor  # (R, head + tail) token ids, padding anywhere the mask is 0
    mask: torch.Tensor  # (R, head + tail) 1 for real tokens
    fact: torch.Tensor  # (R,) index of the fact each row belongs to
    head: int


def layout(rows: list[tuple[int, list[int], list[int]]], device: torch.device) -> Layout:
    """Rows (fact, head ids ending with the subject's last token, tail ids after it)."""
    head = max(len(h) for _, h, _ in rows)
    tail = max(len(t) for _, _, t in rows)
    ids = torch.zeros(len(rows), head + tail, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, (_, h, t) in enumerate(rows):
        ids[i, head - len(h) : head + len(t)] = torch.tensor(h + t)
        mask[i, head - len(h) : head + len(t)] = 1
    fact = torch.tensor([f for f, _, _ in rows])
    return Layout(ids.to(device), mask.to(device), fact.to(device), head)


def context_rows(encoded_all: list[list[list[Encoded]]]) -> list[tuple[int, list[int], list[int]]]:
    return [(f, e.head, e.rest) for f, groups in enumerate(encoded_all) for group in groups for e in group]


def per_fact_mean(values: torch.Tensor, fact: torch.Tensor, n_facts: int) -> torch.Tensor:
    """Mean of row values (R, ...) over the rows of each fact -> (n_facts, ...)."""
    total = torch.zeros((n_facts, *values.shape[1:]), dtype=values.dtype, device=values.device)
    total.index_add_(0, fact, values)
    count = torch.bincount(fact, minlength=n_facts).to(values.dtype)
    return total / count.view(-1, *[1] * (values.dim() - 1))


@torch.no_grad()
def keys_and_outputs(
    model: nn.Module, site: EditSite, encoded_all: list[list[list[Encoded]]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per fact, the mean over its contexts of the rewrite module's input (F, d_in) and output
    (F, d_out) at the subject's last token, in fp32.

    Only the heads run (what follows the subject cannot change its key), up to the rewrite
    module, and the chat-template rows apart from the plain ones, whose short heads would
    otherwise be padded to the chat rows' length."""
    encoded = [(f, e) for f, groups in enumerate(encoded_all) for group in groups for e in group]
    keys, outs, facts = [], [], []
    for chat in (False, True):
        rows = [(f, e.head, []) for f, e in encoded if (e.target is not None) == chat]
        for start in range(0, len(rows), MAX_ROWS):
            lay = layout(rows[start : start + MAX_ROWS], _device(model))
            positions = (lay.mask.cumsum(1) - 1).clamp_min(0)  # absolute ones too are the row's own
            with capture(module(model, site)) as cap, stop_after(module(model, site)):
                model(input_ids=lay.ids, attention_mask=lay.mask, position_ids=positions, use_cache=False)
            keys.append(cap.inputs[0][:, lay.head - 1].float())
            outs.append(cap.outputs[0][:, lay.head - 1].float())
            facts.append(lay.fact)
    fact = torch.cat(facts)
    return per_fact_mean(torch.cat(keys), fact, len(encoded_all)), per_fact_mean(torch.cat(outs), fact, len(encoded_all))


def key_and_output(model: nn.Module, site: EditSite, encoded: list[list[Encoded]]) -> tuple[torch.Tensor, torch.Tensor]:
    """`keys_and_outputs` for one fact: (d_in,), (d_out,)."""
    keys, outs = keys_and_outputs(model, site, [encoded])
    return keys[0], outs[0]


@dataclass
class ValueResult:
    delta: torch.Tensor
    """(d_out,) fp32 added to the rewrite module's output at the subject's last token."""
    nll_start: float
    nll_end: float
    kl_end: float
    steps: int


@dataclass(frozen=True)
class _Row:
    fact: int
    head: list[int]
    tail: list[int]
    target: list[int] | None
    """Target ids predicted after `rest` (tail = rest + target[:-1]); None for an essence row."""
    rest: int
    also: tuple[int, ...] = ()
    """Tail positions (0 is the subject's last token) where the delta is added as well."""
    chat: bool = False
    """A chat-template row (left out of the plain-contexts NLL)."""


def _layer_list(model: nn.Module, site: EditSite) -> tuple[nn.Module, str] | None:
    """The base model and the name of its list of decoder layers, when `site` lies in that list."""
    prefix, found, _ = site.module_name.partition(f".{site.layer}.")
    parent_name, _, name = prefix.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not found or parent is not model.base_model or not isinstance(getattr(parent, name, None), nn.ModuleList):
        return None
    return parent, name


def _edit_layer(model: nn.Module, site: EditSite) -> nn.Module:
    parent, name = _layer_list(model, site)  # type: ignore[misc]
    return getattr(parent, name)[site.layer]


@contextmanager
def _layers_above(model: nn.Module, site: EditSite) -> Iterator[None]:
    """The base model runs only the layers above the edit layer: its input embeddings are taken as
    the hidden state leaving the edit layer. (Each layer keeps its own index into the KV cache.)"""
    parent, name = _layer_list(model, site)  # type: ignore[misc]
    layers = getattr(parent, name)
    setattr(parent, name, nn.ModuleList(list(layers)[site.layer + 1 :]))
    try:
        yield
    finally:
        setattr(parent, name, layers)


_ABOVE_IS_EXACT: dict[tuple[type, int], bool] = {}


def _above_is_exact(model: nn.Module, site: EditSite) -> bool:
    """Whether `_layers_above` fed the hidden state leaving the edit layer reproduces the full pass
    for this architecture (not where the base model changes its input embeddings, as GPT-2 adds
    position embeddings). Checked once per model class and layer, on three tokens."""
    key = (type(model), site.layer)
    if key not in _ABOVE_IS_EXACT:
        exact = False
        if _layer_list(model, site):
            ids = torch.tensor([[1, 2, 3]], device=_device(model))
            with torch.no_grad(), _leaving(_edit_layer(model, site)) as left:
                full = model.base_model(input_ids=ids, use_cache=False).last_hidden_state
            with torch.no_grad(), _layers_above(model, site):
                above = model.base_model(inputs_embeds=left[0], use_cache=False).last_hidden_state
            exact = torch.allclose(above.float(), full.float(), rtol=1e-3, atol=1e-4)
        _ABOVE_IS_EXACT[key] = exact
    return _ABOVE_IS_EXACT[key]


@contextmanager
def _leaving(layer: nn.Module) -> Iterator[list[torch.Tensor]]:
    """The hidden states a decoder layer outputs while active, detached (some layers return a tuple)."""
    seen: list[torch.Tensor] = []

    def hook(_m: nn.Module, _args: tuple, output: torch.Tensor | tuple) -> None:
        seen.append((output[0] if isinstance(output, tuple) else output).detach())

    handle = layer.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def _block_causal(q_row: torch.Tensor, q_pos: torch.Tensor, k_row: torch.Tensor, k_pos: torch.Tensor,
                  dtype: torch.dtype) -> torch.Tensor:
    """(1, 1, Q, K) additive attention mask: a query sees the keys of its own row up to its position."""
    allowed = (q_row[:, None] == k_row[None, :]) & (k_pos[None, :] <= q_pos[:, None])
    return torch.zeros(allowed.shape, dtype=dtype, device=q_row.device).masked_fill(
        ~allowed, torch.finfo(dtype).min)[None, None]


class _Bucket:
    """Rows packed into one sequence, each row seeing only its own tokens at its own positions: the
    heads (the tokens before the subject's last one) run once into a KV cache, the tails are
    recomputed at every step. Packed rather than padded: a CPU's small matrix products cost about
    as much per call as per row, so one pass over every row without pad tokens beats padded batches."""

    def __init__(self, model: nn.Module, rows: list[_Row]) -> None:
        self.device, self.dtype = _device(model), next(model.parameters()).dtype
        self._pack(rows)
        self.below: torch.Tensor | None = None
        """(1, tail tokens, d) the hidden state leaving the edit layer without a delta, once known and
        `_above_is_exact`: then a step runs only the layers above it."""
        self.past = None
        if len(self.head_row):
            mask = _block_causal(self.head_row, self.head_pos, self.head_row, self.head_pos, self.dtype)
            with torch.no_grad():
                self.past = model.base_model(
                    input_ids=self.head_ids[None], attention_mask=mask, position_ids=self.head_pos[None], use_cache=True
                ).past_key_values

    def _pack(self, rows: list[_Row]) -> None:
        """The index tensors of `rows` packed (the cache, if any, already holds their heads in order)."""
        dev = self.device
        heads = [r.head[:-1] for r in rows]
        tails = [[r.head[-1], *r.tail] for r in rows]
        starts = [sum(len(t) for t in tails[:i]) for i in range(len(rows))]

        def flat(parts: list[list[int]], first: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            ids = [t for p in parts for t in p]
            row = [i for i, p in enumerate(parts) for _ in p]
            pos = [f + j for p, f in zip(parts, first) for j in range(len(p))]
            return (torch.tensor(ids, dtype=torch.long, device=dev), torch.tensor(row, dtype=torch.long, device=dev),
                    torch.tensor(pos, dtype=torch.long, device=dev))

        self.rows = rows
        self.head_ids, self.head_row, self.head_pos = flat(heads, [0] * len(rows))
        self.tail_ids, self.tail_row, self.tail_pos = flat(tails, [len(h) for h in heads])
        self.mask = _block_causal(self.tail_row, self.tail_pos, torch.cat([self.head_row, self.tail_row]),
                                  torch.cat([self.head_pos, self.tail_pos]), self.dtype)
        self.fact = torch.tensor([r.fact for r in rows], dtype=torch.long, device=dev)
        self.token_fact = self.fact[self.tail_row]
        self.sites = torch.zeros(len(self.tail_ids), device=dev)
        for r, s in zip(rows, starts):
            self.sites[[s, *(s + a for a in r.also)]] = 1
        ctx = [i for i, r in enumerate(rows) if r.target is not None]
        ess = [i for i, r in enumerate(rows) if r.target is None]
        self.ctx = torch.tensor(ctx, dtype=torch.long, device=dev)
        self.ess = torch.tensor(ess, dtype=torch.long, device=dev)
        self.chat = torch.tensor([rows[i].chat for i in ctx], dtype=torch.bool, device=dev)
        width = max([len(rows[i].target) for i in ctx] or [1])
        # Context row i predicts target token j at packed tail index start + rest + j.
        self.positions = torch.zeros(len(ctx), width, dtype=torch.long, device=dev)
        self.target = torch.zeros_like(self.positions)
        self.valid = torch.zeros(len(ctx), width, dtype=torch.bool, device=dev)
        for n, i in enumerate(ctx):
            t, at = rows[i].target, starts[i] + rows[i].rest
            self.positions[n, : len(t)] = torch.arange(at, at + len(t))
            self.target[n, : len(t)] = torch.tensor(t)
            self.valid[n, : len(t)] = True
        self.ess_positions = torch.tensor([starts[i] + len(tails[i]) - 1 for i in ess], dtype=torch.long, device=dev)

    def keep(self, active: torch.Tensor) -> None:
        """Drop the rows of facts not in `active` (bool per fact; at least one)."""
        rows = active[self.fact]
        if bool(rows.all()):
            return
        if self.past is not None:
            tokens = torch.nonzero(rows[self.head_row]).squeeze(1)
            for layer in self.past.layers:
                layer.keys, layer.values = layer.keys[:, :, tokens], layer.values[:, :, tokens]
        if self.below is not None:
            self.below = self.below[:, torch.nonzero(rows[self.tail_row]).squeeze(1)]
        self._pack([r for r, k in zip(self.rows, rows.tolist()) if k])
        if not len(self.head_row):
            self.past = None

    def forward(
        self, model: nn.Module, site: EditSite, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(target NLL per context row, essence log-probs per essence row (n, V), whether every
        target token is the most probable one per context row (bool))."""
        added = (self.sites.unsqueeze(-1) * delta[self.token_fact]).unsqueeze(0)
        run = dict(attention_mask=self.mask, position_ids=self.tail_pos[None], past_key_values=copy.deepcopy(self.past),
                   use_cache=self.past is not None)
        if self.below is not None:
            with _layers_above(model, site):
                return self._read(model, model.base_model(inputs_embeds=self.below + added.to(self.dtype), **run))

        def hook(_m: nn.Module, _args: tuple, output: torch.Tensor) -> torch.Tensor:
            return output + added.to(output.dtype)

        above = _above_is_exact(model, site)
        handle = module(model, site).register_forward_hook(hook)
        try:
            with _leaving(_edit_layer(model, site)) if above else nullcontext([]) as left:
                out = model.base_model(input_ids=self.tail_ids[None], **run)
        finally:
            handle.remove()
        if above:
            self.below = left[0] - added.detach().to(self.dtype)
        return self._read(model, out)

    def _read(self, model: nn.Module, out) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward`'s results from the base model's output over the tails."""
        hidden = out.last_hidden_state[0]
        n = self.positions.numel()  # one pass of the output head over every position read
        logp = torch.log_softmax(
            model.get_output_embeddings()(hidden[torch.cat([self.positions.flatten(), self.ess_positions])]).float(),
            dim=-1)
        ctx_lp = logp[:n].view(*self.positions.shape, -1)
        tok = ctx_lp.gather(-1, self.target.unsqueeze(-1)).squeeze(-1)
        row_nll = -(tok * self.valid).sum(1) / self.valid.sum(1).clamp_min(1)
        top = ((ctx_lp.detach().argmax(-1) == self.target) | ~self.valid).all(1)
        return row_nll, logp[n:], top


class _Problem:
    """A chunk of facts: their context rows predict the targets, one essence row each keeps
    '{subject} is a'; all rows are one packed `_Bucket`."""

    def __init__(self, model: nn.Module, tokenizer: Tokenizer, requests, encoded_all, targets) -> None:
        rows: list[_Row] = []
        for f, groups in enumerate(encoded_all):
            for e in (e for group in groups for e in group):
                t = e.target or targets[f]
                rows.append(_Row(f, e.head, e.rest + t[:-1], t, len(e.rest), tuple(i + 1 for i in e.also),
                                 chat=e.target is not None))
            ess = essence_prompt(tokenizer, requests[f])
            rows.append(_Row(f, ess.head, ess.rest, None, len(ess.rest)))
        self.n_facts = len(requests)
        self.bucket = _Bucket(model, rows)

    def keep(self, active: torch.Tensor) -> None:
        self.bucket.keep(active)

    def losses(
        self, model: nn.Module, site: EditSite, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Per fact: mean target NLL over all its contexts (F,), the same over its plain contexts
        only (F,), essence log-probs (F, V), and whether the target is the most probable
        continuation in all its contexts, and in all its plain ones ((F,) bool each). Facts whose
        rows were dropped get NaN and zero rows."""
        b = self.bucket
        nll, ess_lp, top = b.forward(model, site, delta)
        fact, plain = b.fact[b.ctx], ~b.chat
        per_fact = per_fact_mean(nll, fact, self.n_facts)
        per_fact_plain = per_fact_mean(nll[plain].detach(), fact[plain], self.n_facts)
        out = torch.zeros(self.n_facts, ess_lp.shape[1], dtype=ess_lp.dtype, device=ess_lp.device)
        missed = (~top).float()
        top_all = per_fact_mean(missed, fact, self.n_facts) == 0
        top_plain = per_fact_mean(missed[plain], fact[plain], self.n_facts) == 0
        return per_fact, per_fact_plain, out.index_copy(0, b.fact[b.ess], ess_lp), (top_all, top_plain)


def optimise_values(
    model: nn.Module,
    tokenizer: Tokenizer,
    requests: list[EditRequest],
    site: EditSite,
    encoded_all: list[list[list[Encoded]]],
    targets: list[list[int]],
    v_norms: list[float],
    config: RomeConfig,
) -> list[ValueResult]:
    """Per fact, delta so that the module output + delta at the subject makes its target likely in
    every context, keeping the '{subject} is a' distribution (KL) and ||delta|| <= clamp * v_norm.

    Facts share the batch but not the loss: each fact's delta sees only its own rows, and Adam is
    elementwise, so each result is what optimising that fact alone gives (early stop included).
    The passes run in `config.value_dtype` (`editing.precision`), the last `config.final_steps` on the
    model as loaded (a fact that stops early before them stops on the cheaper copy's measure); delta
    and Adam stay fp32.
    """
    rows_per_fact = sum(len(g) for g in encoded_all[0]) + 1 if encoded_all else 1
    chunk = max(1, MAX_ROWS // rows_per_fact)
    out: list[ValueResult] = []
    for s in range(0, len(requests), chunk):
        sl = slice(s, s + chunk)
        out += _optimise_chunk(model, tokenizer, requests[sl], site, encoded_all[sl], targets[sl], v_norms[sl], config)
    return out


def _optimise_chunk(model, tokenizer: Tokenizer, requests, site, encoded_all, targets, v_norms, config) -> list[ValueResult]:
    dev = _device(model)
    work = value_model(model, config.value_dtype)
    problem = _Problem(work, tokenizer, requests, encoded_all, targets)
    switch = max(0, config.steps - config.final_steps) if work is not model and config.final_steps else -1
    n = len(requests)
    norms = torch.tensor(v_norms, device=dev, dtype=torch.float32)
    delta = torch.zeros(n, model.config.hidden_size, device=dev, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=config.lr)
    results: list[ValueResult | None] = [None] * n
    kl_init: torch.Tensor | None = None
    nll_start: list[float] = []
    active = torch.ones(n, dtype=torch.bool, device=dev)
    for step in range(config.steps + 1):
        if step == switch:  # the last steps on the model as loaded: its answers are the ones that count
            work, problem = model, _Problem(model, tokenizer, requests, encoded_all, targets)
            problem.keep(active)
        nll, nll_plain, ess, (top_all, top_plain) = problem.losses(work, site, delta)
        measured = nll.detach() if config.stop_on_chat else nll_plain
        top = (top_all if config.stop_on_chat else top_plain).tolist()
        if kl_init is None:
            kl_init = ess.detach()
            nll_start = measured.tolist()
        kl = (ess.exp() * (ess - kl_init)).sum(-1)
        for f, (value, kl_f) in enumerate(zip(measured.tolist(), kl.tolist())):
            done = value < config.early_stop_nll or (config.early_stop == "most_probable" and top[f])
            if results[f] is None and (done or step == config.steps):
                results[f] = ValueResult(delta[f].detach().clone(), nll_start[f], value, kl_f, step)
                active[f] = False
        if not bool(active.any()):
            break
        loss = nll + config.kl_factor * kl + config.weight_decay * delta.norm(dim=1) / norms**2
        (grad,) = torch.autograd.grad(loss[active].sum(), [delta])
        delta.grad = grad
        opt.step()
        with torch.no_grad():
            scale = (config.clamp_norm_factor * norms / delta.norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
            delta.mul_(scale.view(-1, 1))
        problem.keep(active)  # finished facts' rows stop costing compute
    return results  # type: ignore[return-value]


def optimise_value(
    model: nn.Module,
    tokenizer: Tokenizer,
    request: EditRequest,
    site: EditSite,
    encoded: list[list[Encoded]],
    target: list[int],
    v_norm: float,
    config: RomeConfig,
) -> ValueResult:
    """`optimise_values` for one fact."""
    return optimise_values(model, tokenizer, [request], site, [encoded], [target], [v_norm], config)[0]
