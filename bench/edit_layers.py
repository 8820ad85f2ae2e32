"""Layer sweep for ROME on the default model, with C vs C = I in the same run.

    python bench/edit_layers.py --data ../shared/data/editing/counterfact/counterfact-train.json --n 8

Tunes on CounterFact *train* records (the evaluation command reports on counterfact-edit.json).
For each layer and each of C (model-sampled key statistics) and C = I, prints efficacy,
generalization, specificity and seconds per edit, then the same-run ratios C / I.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from editing.config import CovarianceConfig, RomeConfig
from editing.covariance import layer_covariances
from editing.evaluate import _mean, _Weights, load_cases, score
from editing.model_path import default_cache, load, statistics_id
from editing.rome import rome_edit


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--layers", default="2,3,4,5,6,8,11")
    p.add_argument("--model", default=None)
    p.add_argument("--cov-texts", type=int, default=CovarianceConfig.n_texts)
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load(args.model)
    layers = [int(x) for x in args.layers.split(",")]
    covs = layer_covariances(
        model, tok, layers, args.cache or default_cache() / "edits",
        model_id=statistics_id(model, args.model), config=CovarianceConfig(n_texts=args.cov_texts),
    )
    cases = load_cases(Path(args.data), args.n)
    weights = _Weights(model)
    rows = []
    for layer in layers:
        for use_c in (True, False):
            scores, secs = [], []
            for case in cases:
                t = time.perf_counter()
                result = rome_edit(model, tok, case.request, RomeConfig(layer=layer, use_covariance=use_c), covs[layer])
                secs.append(time.perf_counter() - t)
                weights.add(result.delta)
                scores.append(score(model, tok, case))
                weights.restore()
            row = {"layer": layer, "C": "sampled" if use_c else "identity", **_mean(scores),
                   "seconds_per_edit": round(sum(secs) / len(secs), 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\nlayer  C         eff    gen    spec   s/edit")
    for r in rows:
        print(f"{r['layer']:>5}  {r['C']:<8} {r['efficacy']:6.1f} {r['generalization']:6.1f} {r['specificity']:6.1f} {r['seconds_per_edit']:7.2f}")
    print("\nratios C / I (same run):")
    for layer in layers:
        c, i = [r for r in rows if r["layer"] == layer]
        ratio = {k: round(c[k] / i[k], 3) if i[k] else None for k in ("efficacy", "generalization", "specificity")}
        print(f"  layer {layer}: {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
