"""Router accuracy on a labelled set of mixed updates (facts, documents, skill example sets).

    python -m serving.evaluate_router [--cases PATH] [--model PATH_OR_ID]

Each line of the cases file is ``{"update": <a /v1/updates body>, "label": "memory|edit|skill"}``;
edit cases also carry ``true_object``, the fact the edit overwrites. Two accuracies are printed:
``accuracy`` against the labels as written, and ``policy_accuracy`` where an edit case counts as
memory when the unedited model does not state its true object (the router's policy: edit only
what the model knows). The router never sees ``true_object``. Also: confusion, and every miss.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from serving.core.model_loader import load_model
from serving.services.routing import RouterConfig, classify, probe_model
from serving.core.settings import Settings

DEFAULT_CASES = Path(__file__).parent / "data" / "router_cases.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--model", help="local path or hub id (default: PALIMPSEST_MODEL or the embedded model)")
    parser.add_argument("--confidence", type=float, default=RouterConfig.confidence)
    parser.add_argument("--specificity", type=float, default=RouterConfig.specificity)
    args = parser.parse_args()

    settings = Settings(**({"model": args.model} if args.model else {}))
    model, tokenizer, _ = load_model(settings)
    config = RouterConfig(confidence=args.confidence, specificity=args.specificity)
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    confusion: Counter[str] = Counter()
    misses, probes = [], []
    policy_correct = 0
    started = time.perf_counter()
    for case in cases:
        decision = classify(case["update"], lambda fact: probe_model(model, tokenizer, fact), config)
        confusion[f"{case['label']}->{decision.route}"] += 1
        if decision.probe:
            probes.append({"label": case["label"], "confidence": round(decision.probe.confidence, 2),
                           "specificity": round(decision.probe.specificity, 2), "answer": decision.probe.answer})
        policy_label = case["label"]
        if "true_object" in case and decision.probe and case["true_object"].lower() not in decision.probe.answer.lower():
            policy_label = "memory"
        policy_correct += decision.route == policy_label
        if decision.route != case["label"]:
            misses.append({"update": case["update"], "label": case["label"], **decision.as_details()})
    correct = sum(n for key, n in confusion.items() if key.split("->")[0] == key.split("->")[1])
    print(json.dumps({
        "cases": len(cases), "accuracy": correct / len(cases), "policy_accuracy": policy_correct / len(cases), "labels": Counter(c["label"] for c in cases),
        "confusion": dict(sorted(confusion.items())), "seconds_per_update": (time.perf_counter() - started) / len(cases),
        "misses": misses, "probes": probes,
    }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
