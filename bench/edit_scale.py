"""Sequential single edits, one fact per step as ``/v1/edits`` writes them: a curve every ``--every``
edits and the seconds per edit as the history grows; resumable from a checkpoint.

    python bench/edit_scale.py --data $DATA/editing/counterfact/counterfact-edit.json --offset 1000 \
        --n 10000 --every 1000 --checkpoint /tmp/scale-keep.pt --max-minutes 15 --solve keep

Each step optimises the fact's value on the model with every earlier edit applied, then writes it
(``--solve keep``: ROME keeping the keys of all earlier edits still, u = (λC + K_p K_p^T)^-1 k*, with
K_p K_p^T kept incrementally, so a step costs the same at 10 or 10,000 edits; ``--solve rome``:
plain ROME). After each edit its own efficacy is scored ("fresh"). At every curve point, on an
evenly spaced sample of the facts written so far (``--score-n``, free generation on ``--free-n``
of them): teacher-forced efficacy / generalization / specificity, free-generation hits and the
n-gram entropy of those generations, the guard's fluency (n-gram entropy of greedy generations of
fixed prompts) and the perplexity of the general text (``editing.fluency``), and the mean seconds
per edit since the last point. The unedited model's scores on the first sample are the reference.
``--gate``: the applied edits are scope-gated as the server gates them (``editing.gate``).
Each point also gives the CPU seconds per edit (all the process's threads), which other load on the
machine inflates much less than the wall-clock seconds (the run takes hours on a shared machine).

The checkpoint (the summed delta per parameter, the key gram, the curve, the seconds) is written
every ``--save-every`` edits and when ``--max-minutes`` is reached; the same command resumes. On
resume the weights are base + the summed delta (one fp32 rounding instead of the running sum's).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from editing.editors import make_editor
from editing.evaluate import load_cases, mean_scores, score
from editing.gate import EditGate, GateConfig, WrittenFacts
from editing.fluency import fluency_scores
from editing.keystore import add_keys
from editing.rome import resolve_layer

from serving.evaluation.edits import covariances
from serving.evaluation.host import DeltaWriter

from common import load, model_options, statistics_cache


def sample(n_done: int, size: int) -> list[int]:
    """Up to `size` evenly spaced indices in range(n_done)."""
    if n_done <= size:
        return list(range(n_done))
    return sorted({round(i * (n_done - 1) / (size - 1)) for i in range(size)})


def point(model, tok, cases, done: int, args, seconds: list[float], cpu: list[float], fresh: list[bool]) -> dict:
    """Scores of a sample of the facts written so far, fluency, perplexity and timing."""
    idx = sample(done, args.score_n)
    free = set(idx[:: max(1, len(idx) // args.free_n)][: args.free_n])
    rows = [score(model, tok, cases[i], i in free) for i in idx]
    teacher = mean_scores([{k: r[k] for k in ("efficacy", "generalization", "specificity")} for r in rows])
    free_rows = mean_scores([{k: r[k] for k in ("free_efficacy", "free_generalization", "fluency")} for r in rows if len(r) > 3])
    window, cpu_window = seconds[-args.every :], cpu[-args.every :]
    return {
        "edits": done, **teacher, **free_rows, **{f"guard_{k}": round(v, 3) for k, v in fluency_scores(model, tok).items()},
        "fresh_efficacy": round(100 * sum(fresh[-args.every :]) / max(1, len(fresh[-args.every :])), 2),
        "seconds_per_edit": round(sum(window) / len(window), 3) if window else None,
        "cpu_seconds_per_edit": round(sum(cpu_window) / len(cpu_window), 3) if cpu_window else None,
        "scored": len(idx), "free_scored": len(free),
    }


def save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--offset", type=int, default=1000, help="records to skip (keep tuning cases out)")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--every", type=int, default=1000, help="edits between curve points")
    p.add_argument("--solve", default="keep", choices=["keep", "rome"])
    p.add_argument("--no-chat-context", action="store_true")
    p.add_argument("--gate", action="store_true", help="scope-gate the applied edits (editing.gate)")
    p.add_argument("--score-n", type=int, default=500, help="facts scored (teacher-forced) at a curve point")
    p.add_argument("--free-n", type=int, default=100, help="of those, facts scored by free generation")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--save-every", type=int, default=25)
    p.add_argument("--max-minutes", type=float, default=0, help="stop (after saving) past this many minutes; 0: never")
    args = model_options(p).parse_args()
    started = time.perf_counter()
    host = load(args)
    model, tok = host.model, host.tokenizer
    layer = resolve_layer(model, None)
    covs = covariances(host, [layer], statistics_cache())
    editor = make_editor("rome", layer, chat_context=not args.no_chat_context, keep_keys=args.solve == "keep")
    cases = load_cases(Path(args.data), args.n, args.offset)
    key = {"data": str(args.data), "offset": args.offset, "n": len(cases), "solve": args.solve,
           "chat_context": not args.no_chat_context, "every": args.every, "model": str(host.model_id),
           "gate": args.gate}
    weights = DeltaWriter(host)
    gate = EditGate(model, GateConfig()) if args.gate else None
    gated: list[WrittenFacts] = []  # the same objects at every gate.set, so earlier edits are not re-prepared
    if args.checkpoint.exists():
        state = torch.load(args.checkpoint)
        if state["key"] != key:
            print(f"error: {args.checkpoint} holds another run: {state['key']}", file=sys.stderr)
            return 2
        weights.add(state["delta"])
        if gate is not None:
            gated = [WrittenFacts(f, k) for f, k in state["written"]]
            gate.set(gated, covs)
        print(f"resumed at {state['done']} edits", file=sys.stderr, flush=True)
    else:
        idx = sample(len(cases), args.score_n)
        free = set(idx[:: max(1, len(idx) // args.free_n)][: args.free_n])
        rows = [score(model, tok, cases[i], i in free) for i in idx]
        unedited = {**mean_scores([{k: r[k] for k in ("efficacy", "generalization", "specificity")} for r in rows]),
                    **mean_scores([{k: r[k] for k in ("free_efficacy", "free_generalization", "fluency")}
                                   for r in rows if len(r) > 3]),
                    **{f"guard_{k}": round(v, 3) for k, v in fluency_scores(model, tok).items()}}
        state = {"key": key, "done": 0, "delta": {}, "gram": {}, "seconds": [], "cpu_seconds": [], "fresh": [],
                 "curve": [], "unedited": unedited, "written": []}
        print(json.dumps({"unedited": unedited}), file=sys.stderr, flush=True)
        save(args.checkpoint, state)  # the unedited scores take minutes: a resume does not redo them
    gram: dict[int, torch.Tensor] = state["gram"]
    while state["done"] < len(cases):
        case = cases[state["done"]]
        t, c = time.perf_counter(), time.process_time()
        result = editor(model, tok, [case.request], covs, gram)
        weights.add(result.delta)
        add_keys(gram, result.keys)
        if gate is not None:
            state["written"].append((result.factors, result.keys))
            gated.append(WrittenFacts(result.factors, result.keys))
            gate.set(gated, covs)
        state["seconds"].append(time.perf_counter() - t)
        state["cpu_seconds"].append(time.process_time() - c)
        state["fresh"].append(score(model, tok, case)["efficacy"])
        state["done"] += 1
        done = state["done"]
        if done % args.every == 0 or done == len(cases):
            curve = point(model, tok, cases, done, args, state["seconds"], state["cpu_seconds"], state["fresh"])
            state["curve"].append(curve)
            print(json.dumps(state["curve"][-1]), file=sys.stderr, flush=True)
        out_of_time = args.max_minutes and time.perf_counter() - started > 60 * args.max_minutes
        if done % args.save_every == 0 or done == len(cases) or out_of_time:
            state["delta"] = {name: weights.change(name) for name in result.delta}
            save(args.checkpoint, state)
            print(f"saved at {done} edits ({state['seconds'][-1]:.1f} s for the last)", file=sys.stderr, flush=True)
        if out_of_time and done < len(cases):
            print(json.dumps({"stopped_at": done, "of": len(cases), "resume": "run the same command"}))
            return 0
    secs = state["seconds"]
    report = {"run": key, "unedited": state["unedited"], "curve": state["curve"],
              "seconds_per_edit_first_100": round(sum(secs[:100]) / len(secs[:100]), 3),
              "seconds_per_edit_last_100": round(sum(secs[-100:]) / len(secs[-100:]), 3),
              "threads": torch.get_num_threads()}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
