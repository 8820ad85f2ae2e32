"""Router accuracy on a labelled set of mixed updates (facts, documents, skill example sets).

    palimpsest eval router [--cases PATH] [--model PATH_OR_ID]

Each line of the cases file is ``{"update": <a /v1/updates body>, "label": "memory|edit|skill"}``;
edit cases also carry ``true_object``, the fact the edit overwrites, and may carry ``prompt``, the
statement up to that object ("Alain Mabanckou, a native"; default: the parsed fact's prompt).

Two accuracies are printed: ``accuracy`` against the labels as written, and ``policy_accuracy``
where an edit case counts as memory when the unedited model does not state its true object (the
router's policy: edit only what the model states). "States" is decided here, apart from the router:
the true object appears in the model's greedy continuation of the prompt or in its chat answer when
asked to complete it, other than inside the subject repeated. The router never sees ``true_object``.
Also: confusion, and every miss.

``serving/data/router_cases.jsonl`` holds the 60 cases the router was built on;
``serving/data/router_heldout.jsonl`` holds 40 written afterwards from public data (CounterFact
statements, invented people, 2Wiki and HotpotQA passages, SuperNI example sets).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from serving.core.generation import SamplingParams, decode_stream
from serving.core.model_loader import load_model
from serving.core.settings import Settings
from serving.services.routing import RouterConfig, chat_request, classify, probe_model

DEFAULT_CASES = Path(__file__).parents[1] / "data" / "router_cases.jsonl"


def _greedy(model: Any, tokenizer: Any, text: str, tokens: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return "".join(p.text for p in decode_stream(model, tokenizer, ids, SamplingParams(max_tokens=tokens, temperature=0.0)))


def names_object(said: str, true_object: str, subject: str = "") -> bool:
    """Whether ``said`` names ``true_object``; the subject repeated does not ("Oakland, in Ohio State
    Route 315" does not say the route is in Ohio)."""
    said = said.lower()
    return true_object.lower() in (said.replace(subject.lower(), " ") if subject else said)


def states(model: Any, tokenizer: Any, prompt: str, true_object: str, subject: str = "") -> bool:
    """Whether the model names ``true_object`` when it completes ``prompt``, as text or in a chat."""
    said = _greedy(model, tokenizer, prompt, 10) + " " + _greedy(model, tokenizer, chat_request(tokenizer, prompt), 32)
    return names_object(said, true_object, subject)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The report for ``args.cases`` (JSON Lines) on ``args.model``, as ``palimpsest eval router`` prints it."""
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(**{k: v for k, v in (("model", args.model), ("device", args.device)) if v})
    model, tokenizer, _ = load_model(settings)
    config = RouterConfig(**{k: v for k, v in (("agreement", args.agreement), ("specificity", args.specificity))
                             if v is not None})
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    confusion: Counter[str] = Counter()
    misses, policy_misses, probes = [], [], []
    policy_correct = 0
    routing_seconds = 0.0
    for case in cases:
        started = time.perf_counter()
        decision = classify(case["update"], lambda fact: probe_model(model, tokenizer, fact), config)
        routing_seconds += time.perf_counter() - started
        confusion[f"{case['label']}->{decision.route}"] += 1
        policy_label = case["label"]
        prompt = case.get("prompt") or (decision.fact.prompt if decision.fact else None)
        subject = decision.fact.subject if decision.fact else ""
        if "true_object" in case and prompt and not states(model, tokenizer, prompt, case["true_object"], subject):
            policy_label = "memory"
        policy_correct += decision.route == policy_label
        details = {"update": case["update"], "label": case["label"], "policy_label": policy_label,
                   **decision.as_details()}
        if decision.probe:
            probes.append({"label": case["label"], "policy_label": policy_label, "route": decision.route,
                           **decision.probe.__dict__})
        if decision.route != case["label"]:
            misses.append(details)
        if decision.route != policy_label:
            policy_misses.append(details)
    correct = sum(n for key, n in confusion.items() if key.split("->")[0] == key.split("->")[1])
    return {
        "cases": len(cases), "accuracy": correct / len(cases), "policy_accuracy": policy_correct / len(cases),
        "labels": Counter(c["label"] for c in cases), "confusion": dict(sorted(confusion.items())),
        "seconds_per_update": routing_seconds / len(cases),
        "policy_misses": policy_misses, "misses": misses, "probes": probes,
    }
