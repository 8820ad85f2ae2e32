"""Re-score finished pairs of ``palimpsest eval skills --checkpoint DIR`` on other eval items, without
training again: AP needs the scores after the last stage, BWT also each task just after it was learned.

    python bench/skills_rescore.py --checkpoint /tmp/skills_long --pairs sequential+consolidation,sequential+replay \
        --offset 16 --n-eval 48 --threads 1 --out rescore.json

The task vectors saved per stage do not depend on the eval items (training reads only the train
files), so each stage's weights are rebuilt from them as a resumed run does (``MergedWeights``) and
scored on eval items ``offset .. offset + n_eval`` of every task. The run's settings (tasks, order,
n_train, merge coefficients) come from the checkpoint's report.json. A pair already in ``--out`` is
skipped, so an interrupted run goes on where it stopped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from adapters.evaluate import Task, load_task, score_all
from adapters.merge import MergeSpec
from adapters.metrics import average_performance, backward_transfer
from serving.evaluation.host import evaluation_settings, load_host
from serving.evaluation.skills import MergedWeights, PairState


def rescore(state: PairState, spec: MergeSpec, weights: MergedWeights, tasks: list[Task], batch_size: int) -> dict:
    """Scores of the pair on ``tasks``: the last stage's row over every task, and the diagonal
    (task k after stage k); the matrix handed to AP/BWT has only the entries they read (others 0)."""
    n = len(tasks)
    matrix = [[0.0] * (k + 1) for k in range(n)]
    started = time.perf_counter()
    for k in range(n):
        weights.set(state.task_vectors[: k + 1], [spec] * (k + 1))
        wanted = tasks if k == n - 1 else tasks[k : k + 1]
        scores = score_all(weights.host.model, weights.host.tokenizer, wanted, batch_size)
        if k == n - 1:
            matrix[k] = scores
        else:
            matrix[k][k] = scores[0]
        print(f"  stage {k + 1}: {scores}", file=sys.stderr)
    weights.restore()
    return {
        "final": matrix[-1], "diagonal": [matrix[k][k] for k in range(n)],
        "ap": round(average_performance(matrix), 2), "bwt": round(backward_transfer(matrix), 2),
        "eval_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", type=Path, required=True, help="the eval skills --checkpoint folder")
    p.add_argument("--pairs", required=True, help="comma-separated pair folders, e.g. sequential+consolidation")
    p.add_argument("--offset", type=int, default=0, help="first eval item of every task")
    p.add_argument("--n-eval", type=int, default=48, help="eval items per task from --offset")
    p.add_argument("--eval-batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="JSON report, rewritten after each pair")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    run = json.loads((args.checkpoint / "report.json").read_text())["settings"]
    host = load_host(evaluation_settings(model=run["model"], device=run["device"]))
    tasks = []
    for name in run["order"].split(","):
        task = load_task(Path(run["tasks"]), name, run["n_train"], args.offset + args.n_eval, host.tokenizer)
        tasks.append(dataclasses.replace(task, eval=task.eval[args.offset :]))
    report = json.loads(args.out.read_text()) if args.out.exists() else {
        "checkpoint": str(args.checkpoint), "offset": args.offset, "n_eval": args.n_eval, "pairs": {}}
    weights = MergedWeights(host)
    for key in (k.strip() for k in args.pairs.split(",") if k.strip()):
        if key in report["pairs"]:
            continue
        print(f"[{key}] items {args.offset}..{args.offset + args.n_eval}", file=sys.stderr)
        state = PairState(args.checkpoint / key)
        spec = MergeSpec(key.split("+")[0], run["merge_alpha"], run["ema_lambda"])
        report["pairs"][key] = rescore(state, spec, weights, tasks, args.eval_batch_size)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
