"""``palimpsest eval edits|memory|qa|skills|router|updates``: measurements that load the model themselves (no server).

Each prints one JSON report; data paths are always given on the command line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from editing.config import CovarianceConfig

_PLUMBING = ("func", "command", "evaluation", "module")
"""Parser bookkeeping, left out of the namespace an evaluation receives (and reports)."""


def _run(args: argparse.Namespace) -> int:
    from serving.core.model_loader import ModelNotFoundError

    if args.evaluation == "edits" and args.chat and args.mquake is None:
        print("error: --chat needs --mquake (MQuAKE-hard.json)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    module = importlib.import_module(args.module)
    options = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in _PLUMBING})
    try:
        report = module.run(options)
    except (ModelNotFoundError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    print(text)
    if options.out:
        options.out.write_text(text + "\n")
    return 0


def _natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="path, .gguf file or hub id (default: $PALIMPSEST_MODEL or the embedded default)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: $PALIMPSEST_DEVICE or auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def _edits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="CounterFact JSON (EasyEdit flat format)")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--offset", type=_natural, default=0, help="skip this many records (e.g. ones used for tuning)")
    p.add_argument("--sequential", action="store_true", help="keep every edit applied; score all at the end")
    p.add_argument("--method", default="rome", choices=["rome", "rome-identity", "memit", "alphaedit"])
    p.add_argument("--batch-size", type=int, default=1, help="facts per memit/alphaedit edit when sequential")
    p.add_argument("--score-every", type=int, default=0, help="when sequential, also score the edits so far every N edits")
    p.add_argument("--layer", type=int, default=None, help="ROME layer (default: editing.arch.default_layer)")
    _model_options(p)
    p.add_argument("--covariance", default="self", help='"self" (model-sampled text) or a corpus file')
    p.add_argument("--cov-texts", type=int, default=CovarianceConfig.n_texts, help="texts sampled or read for C")
    p.add_argument("--cache", type=Path, default=None, help="statistics cache (default: <PALIMPSEST cache>/edits)")
    p.add_argument("--chat", type=int, default=0, help="MQuAKE rewrites to ask through the chat template")
    p.add_argument("--mquake", type=Path, help="MQuAKE JSON (MQuAKE-hard.json); required with --chat")
    p.add_argument("--no-chat-context", action="store_true", help="leave out the chat-template context (ContextConfig.chat)")
    p.add_argument("--no-free", action="store_true",
                   help="skip the free-generation hits and fluency (greedy continuations of prompt and rephrase)")
    p.add_argument("--single-solve", default="keep", choices=["keep", "rome"],
                   help="ROME keeping earlier edits' keys (as /v1/edits does) or plain ROME")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")


def _memory(p: argparse.ArgumentParser) -> None:
    p.add_argument("--questions", type=Path, required=True, help="HippoRAG QA file (MuSiQue or HotpotQA format)")
    p.add_argument("--corpus", type=Path, required=True, help="its corpus (list of {title, text} or title -> sentences)")
    p.add_argument("--openie", type=Path, help="HippoRAG OpenIE results for the corpus (skips extraction)")
    p.add_argument("--offset", type=_natural, default=0, help="skip the first K questions (e.g. a tuning split)")
    p.add_argument("--n", type=int, default=None, help="evaluate N questions (after --offset)")
    p.add_argument("--subset", action="store_true", help="index only the passages of the N questions")
    p.add_argument("--extractor", default="rule", choices=["rule", "llm"], help="extractor when --openie is not given")
    p.add_argument("--model", help="model for --extractor llm (default: $PALIMPSEST_MODEL or the embedded default)")
    p.add_argument("--embedder", help="sentence-transformers path or id (default: $PALIMPSEST_EMBEDDER or all-MiniLM-L6-v2)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: $PALIMPSEST_DEVICE or auto")
    p.add_argument("--store", type=Path, help="keep the built memory here; reuse it if it holds the same corpus")
    p.add_argument("--passage-node-weight", type=float, help="default: RetrievalConfig's")
    p.add_argument("--linking-top-k", type=int, help="default: RetrievalConfig's")
    p.add_argument("--damping", type=float, help="default: RetrievalConfig's")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")


def _qa_list(name: str, what: str) -> Callable[[str], str]:
    """An argparse type for a comma-separated list of ``serving.evaluation.qa.<name>`` (imported on use)."""

    def check(text: str) -> str:
        from serving.evaluation import qa

        allowed = getattr(qa, name)
        unknown = [s for s in (s.strip() for s in text.split(",")) if s and s not in allowed]
        if unknown or not text.strip(", "):
            raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {','.join(allowed)}")
        return text

    return check


def _runtime_options(p: argparse.ArgumentParser) -> None:
    """What ``serving.evaluation.host.scratch_runtime`` reads: the runtime's home, model and extractor."""
    p.add_argument("--extractor", default="rule", choices=["rule", "llm"], help="the memory's extractor")
    p.add_argument("--home", type=Path, help="an empty PALIMPSEST_HOME to keep (default: a temporary one)")
    _model_options(p)
    p.add_argument("--embedder", help="sentence-transformers path or id (default: $PALIMPSEST_EMBEDDER)")


def _qa(p: argparse.ArgumentParser) -> None:
    p.add_argument("--questions", type=Path, required=True, help="HippoRAG QA file (MuSiQue or HotpotQA format)")
    p.add_argument("--corpus", type=Path, required=True, help="its corpus (list of {title, text} or title -> sentences)")
    p.add_argument("--offset", type=_natural, default=0, help="skip the first K questions (e.g. a tuning split)")
    p.add_argument("--n", type=int, default=None, help="evaluate N questions (after --offset)")
    p.add_argument("--subset", action="store_true", help="ingest only the passages shown with the N questions")
    p.add_argument("--prompts", default="default", type=_qa_list("PROMPTS", "prompt"),
                   help="comma-separated, from default (the question alone) and short (asks for a short answer)")
    p.add_argument("--configs", default="closed_book,gate,forced", type=_qa_list("CONFIGS", "configuration"),
                   help="comma-separated, from closed_book, gate and forced (ratios need closed_book)")
    p.add_argument("--max-tokens", type=int, default=32, help="tokens per chat answer (greedy)")
    _runtime_options(p)
    p.add_argument("--records", type=Path, help="one JSON line per answer: prompt, config, answer, scores, citations")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")


def _strategies(text: str) -> str:
    from serving.evaluation.skills import STRATEGIES

    unknown = [s for s in (s.strip() for s in text.split(",")) if s and s not in STRATEGIES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown strategy {unknown}; choose from {','.join(STRATEGIES)}")
    return text


def _merges(text: str) -> str:
    from serving.evaluation.skills import MERGES

    unknown = [s for s in (s.strip() for s in text.split(",")) if s and s not in MERGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown merge {unknown}; choose from {','.join(MERGES)}")
    return text


def _skills(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", required=True, type=Path, help="ssr_superni/ or trace_500/ directory")
    p.add_argument("--order", required=True, help="comma-separated task names, e.g. sa,para,trans")
    p.add_argument("--strategy", default="none,replay,ssr", type=_strategies,
                   help="comma-separated, from none,replay,consolidation,ssr")
    p.add_argument("--merge", default="sequential", type=_merges,
                   help="comma-separated, from sequential,parallel,ema; every merge is crossed with every strategy")
    p.add_argument("--ema-lambda", type=float, default=0.5, help="ema: weight kept by what was merged before")
    p.add_argument("--orthogonal", default="0", help="comma-separated O-LoRA penalty weights, 0 = plain LoRA (e.g. 0,0.1)")
    p.add_argument("--checkpoint", type=Path, default=None, help="folder to resume from (written after every stage)")
    p.add_argument("--max-minutes", type=float, default=0, help="stop at the next stage boundary after this long")
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-eval", type=int, default=100)
    _model_options(p)
    p.add_argument("--embedder", default=None, help="sentence-transformers path for SSR's k-means (default: all-MiniLM-L6-v2)")
    p.add_argument("--rr", type=float, default=1.0, help="replay ratio of replay and ssr")
    p.add_argument("--low-rr", type=float, default=0.1, help="replay ratio of the consolidation schedule's task phase")
    p.add_argument("--consolidation-steps", type=int, default=4)
    p.add_argument("--replay-per-skill", type=int, default=40)
    p.add_argument("--ssr-prompts", type=int, default=24)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-batch-size", type=int, default=16)
    p.add_argument("--merge-alpha", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here (updated after each strategy)")


def _configs(text: str) -> str:
    unknown = [c for c in (c.strip() for c in text.split(",")) if c and c not in ("auto", "memory", "edit")]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown configuration {unknown}; choose from auto,memory,edit")
    return text


def _router(p: argparse.ArgumentParser) -> None:
    from serving.evaluation.router import DEFAULT_CASES
    from serving.services.routing import RouterConfig

    p.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="JSON Lines of labelled updates")
    p.add_argument("--agreement", type=float, help=f"default {RouterConfig.agreement}")
    p.add_argument("--specificity", type=float, help=f"default {RouterConfig.specificity}")
    _model_options(p)
    p.add_argument("--out", type=Path, help="also write the JSON report here")


def _changes(path: str) -> Path:
    """The path of a readable changed-twice file (``serving.evaluation.updates.load_changes``)."""
    from serving.evaluation.updates import load_changes

    try:
        load_changes(Path(path))
        return Path(path)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _updates(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="MQuAKE-format JSON (e.g. MQuAKE-hard.json)")
    p.add_argument("--n", type=int, default=12, help="cases whose rewrites are applied")
    p.add_argument("--offset", type=_natural, default=0, help="skip this many cases (e.g. ones used for tuning)")
    p.add_argument("--configs", default="auto,memory,edit", type=_configs, help="routes of /v1/updates, in order")
    p.add_argument("--unrelated", type=_natural, default=10, help="single-hop questions of other cases, for locality")
    p.add_argument("--changed-twice", default="auto", choices=["auto", "memory", "edit", "none"],
                   help="route of the A -> B -> C employer scenario (none: skip it)")
    p.add_argument("--changed-twice-cases", type=_changes,
                   help='JSON lines {"subject", "objects": [A, B, C], "statement"?, "question"?} instead of the built-in people')
    p.add_argument("--max-tokens", type=int, default=24, help="tokens per chat answer (greedy)")
    _runtime_options(p)
    p.add_argument("--records", type=Path, help="one JSON line per question asked: question, expected, answer, hit, the facts cited")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")


EVALUATIONS = {
    "edits": (
        "serving.evaluation.edits", _edits,
        "CounterFact efficacy / generalization / specificity of weight edits, and a MQuAKE chat check",
    ),
    "memory": (
        "serving.evaluation.memory", _memory, "passage recall of graph vs. dense retrieval on HippoRAG's QA samples"
    ),
    "qa": (
        "serving.evaluation.qa", _qa,
        "answer F1 / EM on HippoRAG's QA samples through chat: closed-book, memory gated and forced",
    ),
    "skills": ("serving.evaluation.skills", _skills, "continual skill learning: AP, BWT and TRP of each replay strategy"),
    "router": ("serving.evaluation.router", _router, "policy accuracy of the /v1/updates router on labelled updates"),
    "updates": (
        "serving.evaluation.updates", _updates,
        "MQuAKE rewrites through /v1/updates' path, asked through chat: hit rates, locality, revert to base",
    ),
}
"""name -> (module whose ``run(args) -> dict`` makes the report, its options, its help line)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure a learning path on a dataset (loads the model itself; no server)")
    kinds = p.add_subparsers(dest="evaluation", required=True)
    for name, (module, add_options, help_text) in EVALUATIONS.items():
        q = kinds.add_parser(name, help=help_text, description=help_text)
        add_options(q)
        q.set_defaults(func=_run, module=module)
