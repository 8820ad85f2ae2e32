"""The training loss on answer tokens, with the LM head run only where a label is.

A causal LM's forward computes logits for every position: on SmolLM2 the 49,152-way head is about
a fifth of the compute and most of the memory of a training step, yet only the answer tokens are
supervised. Here the decoder body runs once and the head runs on the labelled positions alone;
the loss is the same mean next-token cross-entropy as `model(**batch).loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import IGNORE_INDEX, Encoded, collate, micro_batches


def _causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers causal LM inside a PeftModel (LoRA layers are injected in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _plain_head(lm: torch.nn.Module) -> bool:
    """True when logits are just head(decoder body): no soft-capping or scaling after the head."""
    prefix = getattr(lm, "base_model_prefix", "")
    return (
        bool(prefix)
        and hasattr(lm, prefix)
        and getattr(lm.config, "final_logit_softcapping", None) is None
        and getattr(lm.config, "logit_scale", None) is None
    )


def answer_loss(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of predicting each labelled token from the position before it, averaged
    ("mean") or summed ("sum", for accumulating micro-batches) over those tokens."""
    lm = _causal_lm(model)
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    if not _plain_head(lm):
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        return loss * keep.sum() if reduction == "sum" else loss
    body = getattr(lm, lm.base_model_prefix)
    hidden = body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    logits = lm.get_output_embeddings()(hidden[:, :-1][keep]).float()
    return F.cross_entropy(logits, targets[keep], reduction=reduction)


def _labelled_tokens(labels: list[int]) -> int:
    """How many tokens of one encoded example the loss counts (the first position predicts nothing)."""
    return sum(1 for label in labels[1:] if label != IGNORE_INDEX)


def backward_answer_loss(model: torch.nn.Module, items: list[Encoded], pad_id: int, max_tokens: int) -> float:
    """Backpropagate the batch's mean answer loss in micro-batches of at most `max_tokens` padded
    tokens (each run's summed loss over the batch's label count, so the gradients add up to the
    whole batch's); returns that loss."""
    device = next(model.parameters()).device
    n_labels = max(1, sum(_labelled_tokens(it.labels) for it in items))
    total = 0.0
    for run in micro_batches(items, max_tokens):
        inputs = {k: v.to(device) for k, v in collate(run, pad_id).items()}
        part = answer_loss(model, **inputs, reduction="sum") / n_labels
        part.backward()
        total += float(part.detach())
    return total
