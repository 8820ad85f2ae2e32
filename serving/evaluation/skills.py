"""Continual skill learning, measured: ``palimpsest eval skills --tasks DIR --order a,b,c,...``.

Every (merge, replay) pair starts from the same base weights in one run. Merges (adapters/merge.py):
sequential (--merge-alpha), parallel (the mean of the task vectors), ema (--ema-lambda). Replay
strategies: none, replay (real replay at --rr), consolidation (real replay at --low-rr, then
--consolidation-steps replay-only steps), ssr (self-synthesized rehearsal at --rr: only the 20 demos
of each task are real). After each stage the tasks learned so far are scored (row k of "scores"
has k + 1 entries; "before" scores every task once); "ap_curve" is the AP after each stage.
--orthogonal 0,0.1 also crosses plain LoRA with O-LoRA (adapters/orthogonal.py); "overlap" is each
stage's share of its LoRA A inside the earlier stages' A subspaces.

With --checkpoint DIR the run resumes: each finished stage leaves the pair's task vectors (low-rank),
its rehearsal sets and its scores there, and the report is rewritten; --max-minutes stops at the
next stage boundary once the time is up, after at least one stage (run the same command again to
go on). A resumed pair gets the same scores as an uninterrupted one: training is seeded per stage
and the merged weights are recomputed from the saved fp32 task vectors.
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
from safetensors.torch import load_file, save_file

from adapters.config import SkillConfig
from adapters.data import Example, Skill
from adapters.evaluate import Task, load_task, score_all
from adapters.merge import Factors, MergeSpec, merged_delta
from adapters.metrics import average_performance, backward_transfer
from adapters.orthogonal import mean_overlap, past_subspaces
from adapters.rehearsal import SSRConfig, self_synthesized_rehearsal, sentence_embedder
from adapters.replay import ReplaySet, total_replay_percentage
from adapters.train import train_skill
from serving.core.model_host import ModelHost

from .host import evaluation_settings, load_host

STRATEGIES = ("none", "replay", "consolidation", "ssr")
MERGES = ("sequential", "parallel", "ema")


class MergedWeights:
    """The host's weights as ``base + sum c_i tau_i`` of the task vectors so far (fp32 sums on CPU,
    written through ``ModelHost.set_parameters``); :meth:`restore` writes back the base bits."""

    def __init__(self, host: ModelHost) -> None:
        self.host = host
        self.changed: set[str] = set()

    def set(self, task_vectors: list[Factors], specs: list[MergeSpec]) -> None:
        delta = merged_delta(task_vectors, specs)
        self.host.set_parameters({name: self.host.base_value(name) + d for name, d in delta.items()})
        self.changed |= set(delta)

    def restore(self) -> None:
        if self.changed:
            self.host.set_parameters({name: self.host.base_value(name) for name in self.changed})
        self.changed.clear()


class PairState:
    """One (merge, replay) pair's progress: stage results, rehearsal sets and task vectors, saved
    under ``folder`` after every stage (none without a checkpoint folder)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.stats: dict = {"scores": [], "trp_per_stage": [], "loss_first_last": [], "new": 0, "replayed": 0,
                            "train_seconds": 0.0, "train_cpu_seconds": 0.0, "eval_seconds": 0.0, "ssr_seconds": 0.0,
                            "ssr_yield": []}
        self.memory: list[ReplaySet] = []
        self.task_vectors: list[Factors] = []
        if folder is not None and (folder / "state.json").exists():
            saved = json.loads((folder / "state.json").read_text())
            self.stats = saved["stats"]
            self.memory = [ReplaySet(m["name"], m["instruction"], [Example(**e) for e in m["examples"]])
                           for m in saved["memory"]]
            for k in range(len(self.stats["scores"])):
                flat = load_file(folder / f"tau_{k}.safetensors")
                names = {key.rsplit(":", 1)[0] for key in flat}
                self.task_vectors.append({n: (flat[f"{n}:left"], flat[f"{n}:right"]) for n in names})

    @property
    def stages(self) -> int:
        return len(self.stats["scores"])

    def save(self) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        k = self.stages - 1
        tensors = {f"{n}:{part}": t.contiguous() for n, (left, right) in self.task_vectors[k].items()
                   for part, t in (("left", left), ("right", right))}
        save_file(tensors, self.folder / f"tau_{k}.safetensors")
        memory = [{"name": m.name, "instruction": m.instruction, "examples": [asdict(e) for e in m.examples]}
                  for m in self.memory]
        tmp = self.folder / "state.json.tmp"
        tmp.write_text(json.dumps({"stats": self.stats, "memory": memory}))
        tmp.replace(self.folder / "state.json")


def _stage(
    state: PairState, merge: str, replay: str, orthogonal: float, weights: MergedWeights, tasks: list[Task],
    args: argparse.Namespace, embed: Callable | None,
) -> None:
    """Learn the next task on the merged weights, merge its task vector, score the tasks so far."""
    k = state.stages
    task, host = tasks[k], weights.host
    rr = {"none": 0.0, "replay": args.rr, "consolidation": args.low_rr, "ssr": args.rr}[replay]
    config = SkillConfig(
        rank=args.rank, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, replay_ratio=rr,
        consolidation_steps=args.consolidation_steps if replay == "consolidation" else 0,
        merge=merge, merge_alpha=args.merge_alpha, ema_lambda=args.ema_lambda, seed=args.seed + k,
        orthogonal_lambda=orthogonal,
    )
    stats = state.stats
    past = past_subspaces(state.task_vectors)
    cpu0 = time.process_time()
    result = train_skill(host.model, host.tokenizer, Skill(task.name, task.train, task.instruction), config,
                         replay=state.memory, keep_model=replay == "ssr" and k < len(tasks) - 1,
                         orthogonal_to=past or None)
    stats["train_cpu_seconds"] += time.process_time() - cpu0
    stats["train_seconds"] += result.seconds
    stats["new"] += result.new_seen
    stats["replayed"] += result.replay_seen
    stats["trp_per_stage"].append(round(result.trp, 1))
    stats["loss_first_last"].append([round(result.losses[0], 3), round(result.losses[-1], 3)])
    if replay in ("replay", "consolidation"):
        state.memory.append(ReplaySet(task.name, task.instruction, task.train[: args.replay_per_skill]))
    elif replay == "ssr" and result.model is not None:
        started = time.perf_counter()
        cfg = SSRConfig(n_prompts=args.ssr_prompts, n_select=args.replay_per_skill, seed=args.seed + k)
        ssr = self_synthesized_rehearsal(host.model, result.model, host.tokenizer, task.instruction, task.demos, embed, cfg)
        stats["ssr_seconds"] += time.perf_counter() - started
        stats["ssr_yield"].append({"task": task.name, "generated": ssr.generated, "parsed": ssr.parsed,
                                   "kept": len(ssr.examples)})
        state.memory.append(ReplaySet(task.name, task.instruction, ssr.examples))
    result.model, result.delta = None, {}
    stats.setdefault("overlap", []).append(round(mean_overlap(past, result.factors), 4) if past else None)
    state.task_vectors.append(result.factors)
    weights.set(state.task_vectors, [config.merge_spec] * len(state.task_vectors))
    started = time.perf_counter()
    stats["scores"].append(score_all(host.model, host.tokenizer, tasks[: k + 1], args.eval_batch_size))
    stats["eval_seconds"] += time.perf_counter() - started
    print(f"[{merge}+{replay}] after {task.name}: {stats['scores'][-1]} (train {result.seconds:.0f}s, "
          f"TRP {result.trp:.0f}%)", file=sys.stderr)


def _summary(stats: dict, n_tasks: int) -> dict:
    matrix = stats["scores"]
    return {
        "complete": len(matrix) == n_tasks,
        "scores": matrix,
        "ap": round(average_performance(matrix), 2) if matrix else None,
        "bwt": round(backward_transfer(matrix), 2) if matrix else None,
        "ap_curve": [round(sum(row) / len(row), 2) for row in matrix],
        "trp": round(total_replay_percentage(stats["new"], stats["replayed"]), 1),
        "trp_per_stage": stats["trp_per_stage"],
        "train_seconds": round(stats["train_seconds"], 1),
        "train_cpu_minutes": round(stats["train_cpu_seconds"] / 60, 2),
        "eval_seconds": round(stats["eval_seconds"], 1),
        "loss_first_last": stats["loss_first_last"],
        "overlap": stats.get("overlap", []),
        **({"ssr_seconds": round(stats["ssr_seconds"], 1), "ssr_yield": stats["ssr_yield"]} if stats["ssr_yield"] else {}),
    }


def _key(merge: str, replay: str, orthogonal: float) -> str:
    """The report's name of a pair, e.g. ``sequential+consolidation`` or ``parallel+none+olora0.1``."""
    return f"{merge}+{replay}" + (f"+olora{orthogonal:g}" if orthogonal else "")


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def run(args: argparse.Namespace) -> dict:
    """The report of ``palimpsest eval skills`` (options as in ``serving.cli.eval``); with
    ``args.out`` it is also written there after each stage."""
    started = time.perf_counter()
    deadline = started + 60 * args.max_minutes if args.max_minutes else None
    settings = evaluation_settings(model=args.model, device=args.device, embedder=args.embedder)
    host = load_host(settings)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = [load_task(args.tasks, name, args.n_train, args.n_eval, host.tokenizer) for name in _names(args.order)]
    lambdas = [float(x) for x in _names(str(args.orthogonal))]
    pairs = [(m, r, o) for m in _names(args.merge) for r in _names(args.strategy) for o in lambdas]
    embed = sentence_embedder(settings.embedder) if any(r == "ssr" for _, r, _ in pairs) else None
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    saved = checkpoint / "report.json" if checkpoint else None
    report = json.loads(saved.read_text()) if saved is not None and saved.exists() else {
        "model": settings.model,
        "tasks": [{"name": t.name, "metric": t.metric, "n_train": len(t.train), "n_eval": len(t.eval)} for t in tasks],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "before": score_all(host.model, host.tokenizer, tasks, args.eval_batch_size),
        "strategies": {},
    }
    weights, ran = MergedWeights(host), False
    for merge, replay, orthogonal in pairs:
        key = _key(merge, replay, orthogonal)
        state = PairState(checkpoint / key if checkpoint else None)
        if state.stages < len(tasks) and state.task_vectors:
            weights.set(state.task_vectors, [MergeSpec(merge, args.merge_alpha, args.ema_lambda)] * state.stages)
        while state.stages < len(tasks) and (deadline is None or not ran or time.perf_counter() < deadline):
            _stage(state, merge, replay, orthogonal, weights, tasks, args, embed)
            ran = True
            state.save()
            report["strategies"][key] = _summary(state.stats, len(tasks))
            _write(report, saved, args.out)
        weights.restore()
        report["strategies"][key] = _summary(state.stats, len(tasks))
    report["complete"] = all(report["strategies"].get(_key(*p), {}).get("complete") for p in pairs)
    report["wall_seconds_this_slice"] = round(time.perf_counter() - started, 1)
    _write(report, saved, args.out)
    return report


def _write(report: dict, *paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2) + "\n")
