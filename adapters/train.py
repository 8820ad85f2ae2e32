"""Train one skill as a LoRA on a copy of the model and return its merged fp32 weight delta."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import SkillConfig
from .data import Encoded, Skill, Tokenizer, encode_any
from .ewc import ewc_penalty, fisher_diagonal
from .lora import lora_delta, lora_factors
from .merge import Factors
from .orthogonal import orthogonality_penalty, start_orthogonal
from .loss import backward_answer_loss
from .replay import NEW, ReplaySet, plan_batches, replay_counts, total_replay_percentage

Progress = Callable[[float, str], None]


@dataclass
class TrainResult:
    """A learned skill: `delta` maps plain parameter names to fp32 CPU tensors (merge_alpha applied);
    `factors` is the raw task vector tau (no merge_alpha) that the merging strategies combine."""

    delta: dict[str, torch.Tensor]
    factors: Factors
    losses: list[float]
    """Mean training loss of each optimiser step, in order (task phase, then consolidation)."""
    seconds: float
    new_seen: int
    replay_seen: int
    adapter_dir: Path | None = None
    model: torch.nn.Module | None = field(default=None, repr=False)
    """The trained peft model (base copy + LoRA), kept only when asked for (SSR refinement uses it)."""

    @property
    def trp(self) -> float:
        return total_replay_percentage(self.new_seen, self.replay_seen)


def train_skill(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    skill: Skill,
    config: SkillConfig | None = None,
    replay: list[ReplaySet] | None = None,
    progress: Progress | None = None,
    adapter_dir: str | Path | None = None,
    keep_model: bool = False,
    copy_model: bool = True,
    orthogonal_to: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Learn `skill` (with `replay` of earlier skills mixed in) without touching `model`.

    The model is deep-copied, a fresh LoRA is trained on the copy, and the result is returned as
    a delta `merge_alpha * (alpha / r) * B @ A` per targeted weight. With `adapter_dir` the
    unmerged adapter is also saved there in PEFT format. Pass `copy_model=False` only with a
    private copy that may be changed (it gets the LoRA layers). With ``config.orthogonal_lambda``
    and ``orthogonal_to`` (earlier skills' A rows, adapters/orthogonal.py) O-LoRA's penalty is added.
    """
    from peft import LoraConfig, get_peft_model

    config = config or SkillConfig()
    replay = [r for r in (replay or []) if r.examples and r.name != skill.name]
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)

    sources: dict[str, list[Encoded]] = {
        NEW: [encode_any(tokenizer, skill.instruction, ex, config.max_length, skill.raw) for ex in skill.examples]
    }
    for r in replay:
        sources[r.name] = [encode_any(tokenizer, r.instruction, ex, config.max_length, r.raw) for ex in r.examples]
    plan = plan_batches(
        len(sources[NEW]),
        {r.name: len(sources[r.name]) for r in replay},
        config,
        rng,
        length=lambda source, i: len(sources[source][i].input_ids),
    )
    new_seen, replay_seen = replay_counts(plan)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    work = copy.deepcopy(model) if copy_model else model
    fisher = None
    if config.ewc and replay:
        report(0.0, "estimating the Fisher information of earlier skills")
        batches = [s for batch in plan if (s := [sources[n][i] for n, i in batch if n != NEW])]
        fisher = fisher_diagonal(work, batches[: config.ewc_batches], config.targets, pad_id, config.max_batch_tokens)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.targets),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(work, lora)
    if config.orthogonal_lambda and orthogonal_to:
        start_orthogonal(peft_model, orthogonal_to)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError("the LoRA has no trainable parameters: check config.targets against the model")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, len(plan) // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (len(plan) - step) / max(1, len(plan) - warmup)))
    )
    losses: list[float] = []
    peft_model.train()
    report(0.0, f"training {skill.name}: {len(plan)} steps, TRP {total_replay_percentage(new_seen, replay_seen):.0f}%")
    for step, batch in enumerate(plan):
        optimizer.zero_grad(set_to_none=True)
        loss = backward_answer_loss(peft_model, [sources[n][i] for n, i in batch], pad_id, config.max_batch_tokens)
        if fisher:
            (config.ewc_lambda * ewc_penalty(peft_model, fisher)).backward()
        if config.orthogonal_lambda and orthogonal_to:
            (config.orthogonal_lambda * orthogonality_penalty(peft_model, orthogonal_to)).backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        schedule.step()
        losses.append(loss)
        report((step + 1) / len(plan), f"step {step + 1}/{len(plan)} loss {losses[-1]:.3f}")
    peft_model.eval()

    saved = None
    if adapter_dir is not None:
        saved = Path(adapter_dir)
        peft_model.save_pretrained(saved)
    return TrainResult(
        delta=lora_delta(peft_model, config.merge_alpha),
        factors=lora_factors(peft_model),
        losses=losses,
        seconds=time.perf_counter() - started,
        new_seen=new_seen,
        replay_seen=replay_seen,
        adapter_dir=saved,
        model=peft_model if keep_model else None,
    )
