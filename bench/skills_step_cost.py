"""Cost of one LoRA training step: transformers' full-logits loss on the whole batch (baseline)
vs our answer-only loss over token-budgeted micro-batches; same batches, one run.

    python bench/skills_step_cost.py --tasks ../shared/data/skills/ssr_superni --task sa --steps 6

Each variant runs in its own process so its peak memory (max RSS) is its own. Prints seconds per
step, peak GB and the ratios ours / baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import model_options

VARIANTS = {"baseline_full_logits": None, "ours_answer_only": 1024}


def measure(args) -> dict:
    from peft import LoraConfig, get_peft_model

    from adapters import SkillConfig
    from adapters.data import collate, encode
    from adapters.evaluate import load_task
    from adapters.loss import backward_answer_loss

    from serving.core.model_loader import load_model

    from common import settings

    torch.set_num_threads(args.threads)
    model, tokenizer, _ = load_model(settings(args, device="cpu"))
    task = load_task(args.tasks, args.task, args.batch_size * args.steps, 1, tokenizer)
    items = sorted((encode(tokenizer, task.instruction, ex, 512) for ex in task.train), key=lambda e: -len(e.input_ids))
    config = SkillConfig()
    peft_model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0,
                                                  target_modules=list(config.targets), task_type="CAUSAL_LM"))
    peft_model.train()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    seconds, losses = [], []
    for step in range(args.steps):
        batch = items[step * args.batch_size : (step + 1) * args.batch_size]
        started = time.perf_counter()
        if args.budget is None:
            loss = peft_model(**collate(batch, pad)).loss
            loss.backward()
            value = float(loss)
        else:
            value = backward_answer_loss(peft_model, batch, pad, args.budget)
        peft_model.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - started)
        losses.append(round(value, 5))
    return {"seconds_per_step": round(sum(seconds) / len(seconds), 3), "losses": losses,
            "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=Path, required=True)
    p.add_argument("--task", default="sa")
    p.add_argument("--steps", type=int, default=6, help="batches, longest examples first")
    p.add_argument("--batch-size", type=int, default=8)
    model_options(p, threads=2)
    p.add_argument("--budget", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        print(json.dumps(measure(args)))
        return
    results = {}
    for name, budget in VARIANTS.items():
        cmd = [sys.executable, __file__, "--child", "--tasks", str(args.tasks), "--task", args.task, "--steps",
               str(args.steps), "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        cmd += ["--model", args.model] if args.model else []
        cmd += ["--budget", str(budget)] if budget else []
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
    base, ours = results["baseline_full_logits"], results["ours_answer_only"]
    print(json.dumps({
        "task": args.task, "batch_size": args.batch_size, "threads": args.threads, "results": results,
        "time_ratio_ours_to_baseline": round(ours["seconds_per_step"] / base["seconds_per_step"], 2),
        "memory_ratio_ours_to_baseline": round(ours["peak_gb"] / base["peak_gb"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
