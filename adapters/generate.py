"""Batched text generation for evaluation and rehearsal synthesis (left-padded, no model changes)."""

from __future__ import annotations

import torch

from .data import Tokenizer, chat_prompt


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int = 8,
    sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    stop: list[str] | None = None,
    max_prompt_tokens: int = 1024,
) -> list[str]:
    """Continuations of raw `prompts` (already templated), decoded without special tokens.

    Prompts longer than `max_prompt_tokens` keep their last tokens. With `stop`, each text is
    cut at the first stop string.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            rows = [
                tokenizer(p, add_special_tokens=False)["input_ids"][-max_prompt_tokens:]
                for p in prompts[start : start + batch_size]
            ]
            width = max(len(r) for r in rows)
            ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
            options = dict(do_sample=True, temperature=temperature, top_p=top_p) if sample else dict(do_sample=False)
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                repetition_penalty=repetition_penalty,
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
                top_k=None,
                **options,
            )
            for row in out[:, width:]:
                text = tokenizer.decode(row, skip_special_tokens=True)
                for s in stop or []:
                    text = text.split(s, 1)[0]
                outputs.append(text)
    finally:
        model.train(was_training)
    return outputs


def answer(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    instruction: str | None,
    inputs: list[str],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
) -> list[str]:
    """Greedy chat answers to `instruction + input`, formatted exactly as skills are trained."""
    prompts = [chat_prompt(tokenizer, instruction, text) for text in inputs]
    return [
        t.strip() for t in generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    ]
