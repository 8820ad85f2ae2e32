"""Length-normalised probabilities of continuations: how strongly a prompt states an answer."""
from __future__ import annotations

import torch
from torch import nn

from editing.request import Tokenizer, target_ids


@torch.no_grad()
def continuation_probs(model: nn.Module, tokenizer: Tokenizer, pairs: list[tuple[str, str]]) -> list[float]:
    """exp(mean log p(target tokens | prompt)) for each (prompt, target), one right-padded batch.

    The target gets one leading space, as edits write it.
    """
    dev = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows, spans = [], []
    for prompt, target in pairs:
        p = tokenizer.encode(prompt.rstrip(), add_special_tokens=True)
        t = target_ids(tokenizer, target)
        rows.append(p + t)
        spans.append((len(p), len(t)))
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, device=dev)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, device=dev)
        mask[i, : len(r)] = 1
    hidden = model.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    # The LM head runs only where a target token is predicted (it is most of the cost otherwise).
    rows_idx = torch.tensor([i for i, (_, n) in enumerate(spans) for _ in range(n)], device=dev)
    pos = torch.tensor([start - 1 + j for start, n in spans for j in range(n)], device=dev)
    logp = torch.log_softmax(model.get_output_embeddings()(hidden[rows_idx, pos]).float(), -1)
    tok_lp = logp.gather(-1, ids[rows_idx, pos + 1].unsqueeze(-1)).squeeze(-1)
    out, at = [], 0
    for _, n in spans:
        out.append(float(tok_lp[at : at + n].mean().exp()))
        at += n
    return out


def answer_probs(
    model: nn.Module, tokenizer: Tokenizer, prompt: str, target_new: str, target_true: str | None = None
) -> dict[str, float]:
    """{"p_new": ..., "p_true"?: ...} for the route's before/after report."""
    pairs = [(prompt, target_new)] + ([(prompt, target_true)] if target_true else [])
    probs = continuation_probs(model, tokenizer, pairs)
    return {"p_new": probs[0], **({"p_true": probs[1]} if target_true else {})}
