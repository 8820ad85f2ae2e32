"""Seconds the regression guard adds to a weight change, with and without its fluency checks.

    python bench/edit_guard.py --threads 2 --repeat 3

The guard scores the weights before and after a change. Timed here on the default model with the
30 general probes and 12 edit probes: a first score (nothing cached), the score of weights that did
not move (the "before" of a change that follows an accepted one: cached), and a score after a small
rank-one change, each with fluency on and off; medians of ``--repeat`` runs, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import statistics

import torch

from serving.core.guard import GuardConfig, RegressionGuard

from common import load, model_options

LAYER = "model.layers.5.mlp.down_proj.weight"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    args = model_options(p).parse_args()
    host = load(args)
    model, tok = host.model, host.tokenizer
    entries = [{"probes": [{"group": "edits", "prompt": f"Fact {i} is stored in", "continuation": "Rome"}]}
               for i in range(12)]
    param = model.get_parameter(LAYER)
    report = {}
    for fluency in (False, True):
        times = {"first": [], "unchanged": [], "after_change": []}
        for _ in range(args.repeat):
            guard = RegressionGuard(GuardConfig(fluency=fluency))
            probes = guard.probes(entries)
            times["first"].append(guard.score(model, tok, probes)[1])
            times["unchanged"].append(guard.score(model, tok, probes)[1])
            with torch.no_grad():
                param.add_(1e-6)
            times["after_change"].append(guard.score(model, tok, probes)[1])
            with torch.no_grad():
                param.sub_(1e-6)
        report["fluency" if fluency else "probes_only"] = {k: round(statistics.median(v), 3) for k, v in times.items()}
    # A change costs one uncached score (after) plus a cached one (before) when it follows an accepted change.
    per_change = {k: round(r["after_change"] + r["unchanged"], 3) for k, r in report.items()}
    report["seconds_per_change"] = per_change
    report["added_seconds_per_change"] = round(per_change["fluency"] - per_change["probes_only"], 3)
    report["ratio_fluency_over_probes_only"] = round(per_change["fluency"] / per_change["probes_only"], 2)
    report["threads"] = torch.get_num_threads()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
