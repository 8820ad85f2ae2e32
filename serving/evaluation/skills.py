"""Continual skill learning, measured: ``palimpsest eval skills --tasks DIR --order a,b,c``.

Every strategy starts from the same base weights in one run; after each stage the tasks learned
so far are scored (row k of "scores" has k + 1 entries; "before" scores every task once).
Strategies: none (sequential LoRA merges), replay (real replay at --rr), consolidation (real
replay at --low-rr, then --consolidation-steps replay-only steps), ssr (self-synthesized rehearsal
at --rr: only the 20 demos of each task are real). Each stage's delta is merged through the model
host, and the base weights are written back before the next strategy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from adapters.config import SkillConfig
from adapters.data import Skill
from adapters.evaluate import Task, load_task, score_all
from adapters.metrics import average_performance, backward_transfer
from adapters.rehearsal import SSRConfig, self_synthesized_rehearsal, sentence_embedder
from adapters.replay import ReplaySet, total_replay_percentage
from adapters.train import train_skill

from .host import DeltaWriter, evaluation_settings, load_host

STRATEGIES = ("none", "replay", "consolidation", "ssr")


def run_strategy(
    strategy: str, weights: DeltaWriter, tasks: list[Task], args: argparse.Namespace, embed: Callable | None
) -> dict:
    """Learn `tasks` in order on the host's model, merging each delta; the caller restores the base."""
    current, tokenizer = weights.host.model, weights.host.tokenizer
    rr = {"none": 0.0, "replay": args.rr, "consolidation": args.low_rr, "ssr": args.rr}[strategy]
    steps = args.consolidation_steps if strategy == "consolidation" else 0
    memory: list[ReplaySet] = []
    matrix, losses, stage_trp = [], [], []
    new_total = replay_total = 0
    train_s = cpu_s = ssr_s = 0.0
    ssr_yield = []
    for k, task in enumerate(tasks):
        config = SkillConfig(
            rank=args.rank, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
            replay_ratio=rr, consolidation_steps=steps, merge_alpha=args.merge_alpha, seed=args.seed + k,
        )
        cpu0 = time.process_time()
        result = train_skill(
            current, tokenizer, Skill(task.name, task.train, task.instruction), config,
            replay=memory, keep_model=strategy == "ssr" and k < len(tasks) - 1,
        )
        cpu_s += time.process_time() - cpu0
        train_s += result.seconds
        new_total, replay_total = new_total + result.new_seen, replay_total + result.replay_seen
        stage_trp.append(round(result.trp, 1))
        losses.append([round(result.losses[0], 3), round(result.losses[-1], 3)])
        if strategy in ("replay", "consolidation"):
            memory.append(ReplaySet(task.name, task.instruction, task.train[: args.replay_per_skill]))
        elif strategy == "ssr" and result.model is not None:
            started = time.perf_counter()
            cfg = SSRConfig(n_prompts=args.ssr_prompts, n_select=args.replay_per_skill, seed=args.seed + k)
            ssr = self_synthesized_rehearsal(current, result.model, tokenizer, task.instruction, task.demos, embed, cfg)
            ssr_s += time.perf_counter() - started
            ssr_yield.append({"task": task.name, "generated": ssr.generated, "parsed": ssr.parsed, "kept": len(ssr.examples)})
            memory.append(ReplaySet(task.name, task.instruction, ssr.examples))
        result.model = None
        weights.add(result.delta)
        matrix.append(score_all(current, tokenizer, tasks[: k + 1], args.eval_batch_size))
        print(f"[{strategy}] after {task.name}: {matrix[-1]} (train {result.seconds:.0f}s, TRP {result.trp:.0f}%)", file=sys.stderr)
    out = {
        "scores": matrix,
        "ap": round(average_performance(matrix), 2),
        "bwt": round(backward_transfer(matrix), 2),
        "trp": round(total_replay_percentage(new_total, replay_total), 1),
        "trp_per_stage": stage_trp,
        "replay_ratio": rr,
        "consolidation_steps": steps,
        "train_seconds": round(train_s, 1),
        "train_cpu_minutes": round(cpu_s / 60, 2),
        "loss_first_last": losses,
    }
    if strategy == "ssr":
        out.update(ssr_seconds=round(ssr_s, 1), ssr_yield=ssr_yield)
    return out


def run(args: argparse.Namespace) -> dict:
    """The report of ``palimpsest eval skills`` (options as in ``serving.cli.eval``); with
    ``args.out`` it is also written there after each strategy."""
    strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
    settings = evaluation_settings(model=args.model, device=args.device, embedder=args.embedder)
    host = load_host(settings)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = [load_task(args.tasks, name.strip(), args.n_train, args.n_eval, host.tokenizer) for name in args.order.split(",")]
    embed = sentence_embedder(settings.embedder) if "ssr" in strategies else None
    started = time.perf_counter()
    report = {
        "model": settings.model,
        "tasks": [{"name": t.name, "metric": t.metric, "n_train": len(t.train), "n_eval": len(t.eval)} for t in tasks],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "skill_config": asdict(SkillConfig(rank=args.rank, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size)),
        "before": score_all(host.model, host.tokenizer, tasks, args.eval_batch_size),
        "strategies": {},
    }
    weights = DeltaWriter(host)
    for strategy in strategies:
        report["strategies"][strategy] = run_strategy(strategy, weights, tasks, args, embed)
        weights.restore()
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        if args.out:
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report
