"""Sequential batch edits: MEMIT keeping earlier edits' keys vs AlphaEdit's null space, same values.

    python bench/edit_sequential.py --data ../shared/data/editing/counterfact/counterfact-edit.json \
        --offset 3000 --n 300 --every 100 --values /tmp/values.pt

Each fact's residual delta (the value, the costly part of an edit) is optimised once on the
unedited model and cached in `--values`; every solver then writes the same values batch after
batch, with the earlier batches applied and their keys kept. So the solvers, not the values,
differ, and one value pass serves all of them. Prints, per solver and every `--every` edits,
efficacy / generalization / specificity of all facts written so far, the efficacy of the newest
batches right after writing ("fresh"), and the norm of the accumulated update per layer; then the
ratios against the first solver. (`palimpsest eval edits --sequential` measures the real
thing, values optimised on the edited model, at about ten times the cost.)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from editing.arch import dense_deltas, edit_site
from editing.contexts import context_groups
from editing.evaluate import load_cases, mean_scores, score
from editing.hooks import eval_mode
from editing.keystore import add_keys
from editing.memit import MemitConfig, batch_values, memit_layers, spread_over_layers
from editing.value import encode_groups

from serving.evaluation.edits import covariances
from serving.evaluation.host import DeltaWriter

from common import load, model_options, statistics_cache

SOLVERS = {
    "alphaedit": dict(nullspace=True),
    "memit-keep": dict(nullspace=False),
}


def values(model, tok, cases, batch: int, config: MemitConfig, path: Path | None) -> list[torch.Tensor]:
    """Per batch, its facts' residual deltas (N, d) at the last edit layer, on the unedited model."""
    key = {"prompts": [c.request.prompt for c in cases], "batch": batch}
    if path and path.exists():
        saved = torch.load(path)
        if saved["key"] == key:
            return saved["values"]
    last = edit_site(model, memit_layers(model, config.layers)[-1])
    out = []
    with eval_mode(model):
        for i in range(0, len(cases), batch):
            _, vals = batch_values(model, tok, [c.request for c in cases[i : i + batch]], last, config)
            out.append(torch.stack([v.delta for v in vals]))
            print(f"values {i + len(vals)}/{len(cases)}", file=sys.stderr, flush=True)
    if path:
        torch.save({"key": key, "values": out}, path)
    return out


def run_solver(weights: DeltaWriter, cases, batch: int, config: MemitConfig, covs, vals, every: int) -> list[dict]:
    model, tok = weights.host.model, weights.host.tokenizer
    sites = [edit_site(model, layer) for layer in memit_layers(model, config.layers)]
    previous, curve, fresh = {}, [], []
    t0 = time.perf_counter()
    with eval_mode(model):
        groups = context_groups(model, tok, config.value.contexts)
        for b, i in enumerate(range(0, len(cases), batch)):
            chunk = cases[i : i + batch]
            encoded = [encode_groups(tok, c.request, groups, config.value.contexts.chat) for c in chunk]
            written = spread_over_layers(model, sites, encoded, vals[b].t(), covs, config, previous)
            weights.add(dense_deltas(written.factors))
            add_keys(previous, written.keys)
            fresh += [score(model, tok, c)["efficacy"] for c in chunk]
            done = i + len(chunk)
            if done % every == 0 or done == len(cases):
                norms = {s.layer: round(float(weights.change(s.param_name).norm()), 1) for s in sites}
                curve.append({
                    "edits": done, **mean_scores([score(model, tok, c) for c in cases[:done]]),
                    "fresh": round(100 * sum(fresh[-every:]) / len(fresh[-every:]), 1),
                    "update_norms": norms, "seconds": round(time.perf_counter() - t0, 1),
                })
                print(json.dumps(curve[-1]), file=sys.stderr, flush=True)
    weights.restore()
    return curve


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--offset", type=int, default=3000, help="records to skip (keep the evaluation's cases out)")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--solvers", default="alphaedit,memit-keep", help=f"first is the baseline; from {list(SOLVERS)}")
    p.add_argument("--values", type=Path, default=None, help="cache of the optimised values")
    args = model_options(p).parse_args()
    host = load(args)
    model, tok = host.model, host.tokenizer
    config = MemitConfig()
    config.value.contexts.chat = False
    covs = covariances(host, memit_layers(model, config.layers), statistics_cache())
    cases = load_cases(Path(args.data), args.n, args.offset)
    unedited = mean_scores([score(model, tok, c) for c in cases])
    vals = values(model, tok, cases, args.batch, config, args.values)
    curves = {}
    for name in args.solvers.split(","):
        solver = MemitConfig(**SOLVERS[name])
        solver.value.contexts.chat = False
        curves[name] = run_solver(DeltaWriter(host), cases, args.batch, solver, covs, vals, args.every)
    base, *others = list(curves)
    ratios = {
        other: [
            {"edits": a["edits"], **{m: round(b[m] / max(a[m], 1e-9), 3) for m in ("efficacy", "generalization", "specificity")}}
            for a, b in zip(curves[base], curves[other])
        ]
        for other in others
    }
    print(json.dumps({"unedited": unedited, "curves": curves, f"ratio_to_{base}": ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
