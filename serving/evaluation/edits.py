"""CounterFact evaluation of weight edits, plus a chat check on MQuAKE questions.

    palimpsest eval edits --data counterfact-edit.json --n 100 --chat 10 --mquake MQuAKE-hard.json
    palimpsest eval edits --data counterfact-edit.json --n 1000 --sequential --method memit --batch-size 10

Prints JSON: efficacy, generalization and specificity after editing and before (see
:mod:`editing.evaluate`), the free-generation hits (free_efficacy, free_generalization: the greedy
continuation names the new target within 10 tokens) and fluency (n-gram entropy of those
continuations), the perplexity of a fixed general text (:mod:`editing.fluency`), the ratios of
fluency and perplexity to the unedited model's, mean seconds per edit, and the chat metric (share of
chat answers naming the new target after a single edit of a MQuAKE requested rewrite).
``--no-free`` skips the generations (about half the time of a run).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from editing.config import CovarianceConfig
from editing.covariance import layer_covariances, statistics_id
from editing.editors import edit_layers, make_editor
from editing.evaluate import chat_answer, load_cases, mean_scores, mquake_rewrites, score
from editing.fluency import perplexity
from editing.keystore import add_keys

from serving.core.model_host import ModelHost

from .host import DeltaWriter, evaluation_settings, load_host


def covariances(
    host: ModelHost,
    layers: list[int],
    cache_dir: Path,
    source: str = "self",
    config: CovarianceConfig | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict[int, torch.Tensor]:
    """C per layer for the host's model, cached under ``cache_dir`` by its :func:`statistics_id`."""
    return layer_covariances(
        host.model, host.tokenizer, layers, cache_dir, model_id=statistics_id(host.model_id),
        source=source, config=config or CovarianceConfig(), progress=progress,
    )


def run(args: argparse.Namespace) -> dict:
    """The report of ``palimpsest eval edits`` (options as in ``serving.cli.eval``)."""
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = evaluation_settings(model=args.model, device=args.device)
    host = load_host(settings)
    model, tok = host.model, host.tokenizer
    layers = edit_layers(model, args.method, args.layer)
    covs = None
    if args.method != "rome-identity":
        t = time.perf_counter()
        covs = covariances(
            host, layers, args.cache or settings.cache_dir / "edits", source=args.covariance,
            config=CovarianceConfig(n_texts=args.cov_texts),
            progress=lambda f, m: print(f"covariance {100 * f:.0f}% {m}", file=sys.stderr),
        )
        print(f"covariance ready in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    editor = make_editor(args.method, args.layer, chat_context=not args.no_chat_context,
                         keep_keys=args.single_solve == "keep")
    cases = load_cases(Path(args.data), args.n, args.offset)
    free = not args.no_free
    base_ppl = perplexity(model, tok)
    before = [{**score(model, tok, c, free), "perplexity": base_ppl} for c in cases]
    weights = DeltaWriter(host)
    after, seconds = [], []
    previous: dict[int, torch.Tensor] = {}
    curve: list[dict] = []
    step = args.batch_size if args.sequential and args.method in ("memit", "alphaedit") else 1
    for i in range(0, len(cases), step):
        chunk = cases[i : i + step]
        t = time.perf_counter()
        result = editor(model, tok, [c.request for c in chunk], covs, previous)
        seconds.append((time.perf_counter() - t) / len(chunk))
        weights.add(result.delta)
        if args.sequential:
            add_keys(previous, result.keys)
        else:
            after.append({**score(model, tok, chunk[0], free), "perplexity": perplexity(model, tok)})
            weights.restore()
        done = {"edits": i + len(chunk), "of": len(cases), "seconds_per_edit": round(seconds[-1], 2)}
        print(json.dumps({**done, **({} if args.sequential else after[-1])}), file=sys.stderr, flush=True)
        if args.sequential and args.score_every and done["edits"] % args.score_every == 0 and done["edits"] < len(cases):
            so_far = mean_scores([score(model, tok, c, free) for c in cases[: done["edits"]]])
            curve.append({"edits": done["edits"], **so_far, "perplexity": round(perplexity(model, tok), 3)})
            print(json.dumps({"scored_so_far": curve[-1]}), file=sys.stderr, flush=True)
    if args.sequential:
        ppl = perplexity(model, tok)
        after = [{**score(model, tok, c, free), "perplexity": ppl} for c in cases]
        weights.restore()
    report = {
        "data": str(args.data), "n": len(cases), "offset": args.offset, "method": args.method,
        "layers": layers, "sequential": args.sequential, "chat_context": not args.no_chat_context,
        "single_solve": args.single_solve,
        "covariance": args.covariance if covs else "identity",
        **mean_scores(after),
        "before": mean_scores(before),
        "ratios_to_unedited": _ratios(mean_scores(after), mean_scores(before)),
        "seconds_per_edit": round(sum(seconds) / len(seconds), 3) if seconds else None,
        **({"curve": curve} if curve else {}),
        "device": str(next(model.parameters()).device), "threads": torch.get_num_threads(),
    }
    if args.chat:
        report["chat"] = chat_metric(host, editor, covs, weights, Path(args.mquake), args.chat)
    return report


def _ratios(after: dict[str, float], before: dict[str, float]) -> dict[str, float | None]:
    """after / before of fluency (n-gram entropy) and perplexity: 1.0 is the unedited model's."""
    return {k: round(after[k] / before[k], 3) if before.get(k) else None
            for k in ("fluency", "perplexity") if k in after}


def chat_metric(host: ModelHost, editor, covs, weights: DeltaWriter, path: Path, n: int) -> dict:
    """Share of chat answers naming the new target, before and after a single edit."""
    model, tok = host.model, host.tokenizer
    hits_before, hits_after, examples = 0, 0, []
    rewrites = mquake_rewrites(path, n)
    for req, question in rewrites:
        hits_before += req.target_new.lower() in chat_answer(model, tok, question).lower()
        weights.add(editor(model, tok, [req], covs, {}).delta)
        answer = chat_answer(model, tok, question)
        weights.restore()
        hit = req.target_new.lower() in answer.lower()
        hits_after += hit
        if len(examples) < 5:
            examples.append({"question": question, "target_new": req.target_new, "answer": answer, "hit": hit})
    return {
        "n": len(rewrites),
        "named_new_target": round(100 * hits_after / len(rewrites), 2),
        "named_new_target_before": round(100 * hits_before / len(rewrites), 2),
        "examples": examples,
    }
