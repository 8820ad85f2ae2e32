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

from editing.config import CovarianceConfig, RomeConfig
from editing.evaluate import load_cases, mean_scores, score
from editing.rome import rome_edit

from serving.evaluation.edits import covariances
from serving.evaluation.host import DeltaWriter

from common import load, model_options, statistics_cache


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--layers", default="2,3,4,5,6,8,11")
    p.add_argument("--cov-texts", type=int, default=CovarianceConfig.n_texts)
    p.add_argument("--cache", type=Path, default=None, help="statistics cache (default: <PALIMPSEST cache>/edits)")
    args = model_options(p).parse_args()
    host = load(args)
    model, tok = host.model, host.tokenizer
    layers = [int(x) for x in args.layers.split(",")]
    covs = covariances(host, layers, args.cache or statistics_cache(), config=CovarianceConfig(n_texts=args.cov_texts))
    cases = load_cases(Path(args.data), args.n)
    weights = DeltaWriter(host)
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
            row = {"layer": layer, "C": "sampled" if use_c else "identity", **mean_scores(scores),
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
