"""Training cost of learning skills in sequence: CPU/GPU time per schedule, same run.

    python bench/skills_train_cost.py --tasks ../shared/data/skills/ssr_superni --order sa,para,trans --n-train 200

Schedules: no replay (the baseline), replay at RR = 1.0, and the consolidation schedule
(RR = 0.1 while learning, then replay-only steps). Prints seconds, CPU minutes, TRP and the
time ratio to the baseline for each; nothing is evaluated (see `palimpsest eval skills`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from adapters import ReplaySet, Skill, SkillConfig, train_skill
from adapters.evaluate import load_task

from serving.evaluation.host import DeltaWriter

from common import load, model_options


def run(schedule: dict, weights: DeltaWriter, tasks, args) -> dict:
    """Learn `tasks` in order, merging each delta through the host; the base is written back at the end."""
    current, tokenizer = weights.host.model, weights.host.tokenizer
    memory: list[ReplaySet] = []
    wall = cpu = 0.0
    new = replay = 0
    for k, task in enumerate(tasks):
        config = SkillConfig(epochs=args.epochs, batch_size=args.batch_size, seed=k, **schedule)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = train_skill(current, tokenizer, Skill(task.name, task.train, task.instruction), config, replay=memory)
        wall, cpu = wall + time.perf_counter() - wall0, cpu + time.process_time() - cpu0
        new, replay = new + result.new_seen, replay + result.replay_seen
        weights.add(result.delta)
        memory.append(ReplaySet(task.name, task.instruction, task.train[: args.replay_per_skill]))
    weights.restore()
    return {"seconds": round(wall, 1), "cpu_minutes": round(cpu / 60, 2), "trp": round(100 * replay / new, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=Path, required=True)
    p.add_argument("--order", default="sa,para,trans")
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--replay-per-skill", type=int, default=40)
    args = model_options(p).parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    host = load(args)
    tasks = [load_task(args.tasks, name, args.n_train, 1, host.tokenizer) for name in args.order.split(",")]
    schedules = {
        "none": {},
        "replay_rr1": {"replay_ratio": 1.0},
        "consolidation": {"replay_ratio": 0.1, "consolidation_steps": 4},
    }
    weights = DeltaWriter(host)
    results = {name: run(s, weights, tasks, args) for name, s in schedules.items()}
    for r in results.values():
        r["time_ratio_to_none"] = round(r["seconds"] / results["none"]["seconds"], 2)
    print(json.dumps({"device": str(host.device), "threads": torch.get_num_threads(), "order": args.order,
                      "n_train": args.n_train, "epochs": args.epochs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
