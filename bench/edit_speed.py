"""Single ROME edits with the chat context: the early stop with and without the chat row.

    python bench/edit_speed.py --data ../shared/data/editing/counterfact/counterfact-edit.json \
        --mquake ../shared/data/editing/mquake/MQuAKE-hard.json --n 40 --chat 20

"stop_on_chat" (the default) waits for the mean NLL over all contexts, the chat row included; the
chat row's NLL stays at 2-6 nats, so nearly every edit runs all 25 steps. "stop_on_plain"
(`RomeConfig(stop_on_chat=False)`) stops once the plain contexts are written. Both write the same
cases in turn on one model; prints efficacy / generalization / specificity, the chat metric
(MQuAKE questions answered with the new target), seconds and steps per edit, and the ratios.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from editing.config import RomeConfig
from editing.evaluate import chat_answer, load_cases, mean_scores, mquake_rewrites, score
from editing.rome import resolve_layer, rome_edit

from serving.evaluation.edits import covariances
from serving.evaluation.host import DeltaWriter

from common import load, model_options, statistics_cache


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--mquake", required=True)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--chat", type=int, default=20)
    args = model_options(p).parse_args()
    host = load(args)
    model, tok = host.model, host.tokenizer
    layer = resolve_layer(model, None)
    cov = covariances(host, [layer], statistics_cache())[layer]
    cases = load_cases(Path(args.data), args.n, args.offset)
    rewrites = mquake_rewrites(Path(args.mquake), args.chat) if args.chat else []
    variants = {"stop_on_chat": RomeConfig(layer=layer), "stop_on_plain": RomeConfig(layer=layer, stop_on_chat=False)}
    stats = {name: {"rows": [], "seconds": [], "steps": [], "chat": 0} for name in variants}
    weights = DeltaWriter(host)

    def edit(name: str, request) -> None:
        t = time.perf_counter()
        result = rome_edit(model, tok, request, variants[name], cov)
        stats[name]["seconds"].append(time.perf_counter() - t)
        stats[name]["steps"].append(result.diagnostics["steps"])
        weights.add(result.delta)

    for case in cases:  # the variants alternate, so machine noise hits both alike
        for name in variants:
            edit(name, case.request)
            stats[name]["rows"].append(score(model, tok, case))
            weights.restore()
    for request, question in rewrites:
        for name in variants:
            edit(name, request)
            stats[name]["chat"] += request.target_new.lower() in chat_answer(model, tok, question).lower()
            weights.restore()
    report = {
        name: {
            **mean_scores(s["rows"]),
            "chat": round(100 * s["chat"] / max(1, len(rewrites)), 1),
            "seconds_per_edit": round(sum(s["seconds"]) / len(s["seconds"]), 2),
            "steps_per_edit": round(sum(s["steps"]) / len(s["steps"]), 1),
        }
        for name, s in stats.items()
    }
    e, c = report["stop_on_chat"], report["stop_on_plain"]
    report["ratios_plain_over_chat"] = {
        k: round(c[k] / e[k], 2) if e[k] else None for k in ("seconds_per_edit", "steps_per_edit", "efficacy", "generalization", "specificity", "chat")
    }
    report["threads"] = torch.get_num_threads()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
