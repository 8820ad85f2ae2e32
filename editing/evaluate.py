"""CounterFact evaluation of weight edits, plus a chat check on MQuAKE questions.

    python -m editing.evaluate --data ../shared/data/editing/counterfact/counterfact-edit.json --n 100
    python -m editing.evaluate --data ... --n 1000 --sequential --method memit --batch-size 10

Prints JSON: efficacy (p(new) > p(true) on the prompt), generalization (same on the rephrase),
specificity (the locality prompt keeps p(true) > p(new)), the same metrics before editing, mean
seconds per edit, and the chat metric (share of chat answers naming the new target after a
single edit of a MQuAKE requested rewrite). Probabilities are length-normalised.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from editing.config import CovarianceConfig
from editing.covariance import layer_covariances
from editing.editors import edit_layers, make_editor
from editing.keystore import add_keys
from editing.model_path import ModelNotPreparedError, default_cache, load, statistics_id
from editing.probe import continuation_probs
from editing.request import EditRequest, EditRequestError, Tokenizer


@dataclass(frozen=True)
class Case:
    request: EditRequest
    rephrase: str
    locality_prompt: str
    locality_true: str


def load_cases(path: Path, n: int, offset: int = 0) -> list[Case]:
    """CounterFact records (EasyEdit's flat format); records whose prompt lacks the subject are skipped."""
    cases = []
    for rec in json.loads(path.read_text(encoding="utf-8"))[offset:]:
        try:
            req = EditRequest(rec["prompt"], rec["subject"], rec["target_new"], rec["ground_truth"])
        except EditRequestError:
            continue
        cases.append(Case(req, rec["rephrase_prompt"], rec["locality_prompt"], rec["locality_ground_truth"]))
        if len(cases) == n:
            break
    return cases


def score(model, tokenizer: Tokenizer, case: Case) -> dict[str, bool]:
    r = case.request
    p = continuation_probs(
        model, tokenizer,
        [(r.prompt, r.target_new), (r.prompt, r.target_true), (case.rephrase, r.target_new),
         (case.rephrase, r.target_true), (case.locality_prompt, r.target_new),
         (case.locality_prompt, case.locality_true)],
    )
    return {"efficacy": p[0] > p[1], "generalization": p[2] > p[3], "specificity": p[5] > p[4]}


def _mean(rows: list[dict[str, bool]]) -> dict[str, float]:
    return {k: round(100 * sum(r[k] for r in rows) / len(rows), 2) for k in rows[0]} if rows else {}


class _Weights:
    """In-place weight changes on the evaluation's own model copy, restorable exactly."""

    def __init__(self, model) -> None:
        self.model = model
        self.saved: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def add(self, delta: dict[str, torch.Tensor]) -> None:
        for name, d in delta.items():
            p = self.model.get_parameter(name)
            self.saved.setdefault(name, p.detach().clone())
            p.add_(d.to(p.device, p.dtype))

    @torch.no_grad()
    def restore(self) -> None:
        for name, value in self.saved.items():
            self.model.get_parameter(name).copy_(value)
        self.saved.clear()


def chat_answer(model, tokenizer: Tokenizer, question: str, max_new_tokens: int = 24) -> str:
    text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(next(model.parameters()).device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def mquake_rewrites(path: Path, n: int) -> list[tuple[EditRequest, str]]:
    seen, out = set(), []
    for rec in json.loads(path.read_text(encoding="utf-8")):
        for rw in rec["requested_rewrite"]:
            key = (rw["subject"], rw["prompt"])
            if key in seen:
                continue
            seen.add(key)
            prompt = rw["prompt"].format(rw["subject"])
            out.append((EditRequest(prompt, rw["subject"], rw["target_new"]["str"], rw["target_true"]["str"]), rw["question"]))
            if len(out) == n:
                return out
    return out


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load(args.model, args.device)
    layers = edit_layers(model, args.method, args.layer)
    covs = None
    if args.method != "rome-identity":
        t = time.perf_counter()
        covs = layer_covariances(
            model, tok, layers, args.cache, model_id=statistics_id(model, args.model),
            source=args.covariance, config=CovarianceConfig(n_texts=args.cov_texts),
            progress=lambda f, m: print(f"covariance {100 * f:.0f}% {m}", file=sys.stderr),
        )
        print(f"covariance ready in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    editor = make_editor(args.method, args.layer, chat_context=not args.no_chat_context)
    cases = load_cases(Path(args.data), args.n, args.offset)
    before = [score(model, tok, c) for c in cases]
    weights = _Weights(model)
    after, seconds, diags = [], [], []
    previous: dict[int, torch.Tensor] = {}
    curve: list[dict] = []
    step = args.batch_size if args.sequential and args.method in ("memit", "alphaedit") else 1
    for i in range(0, len(cases), step):
        chunk = cases[i : i + step]
        t = time.perf_counter()
        result = editor(model, tok, [c.request for c in chunk], covs, previous)
        seconds.append((time.perf_counter() - t) / len(chunk))
        diags.append(result.diagnostics)
        weights.add(result.delta)
        if args.sequential:
            add_keys(previous, result.keys)
        else:
            after.append(score(model, tok, chunk[0]))
            weights.restore()
        done = {"edits": i + len(chunk), "of": len(cases), "seconds_per_edit": round(seconds[-1], 2)}
        print(json.dumps({**done, **({} if args.sequential else after[-1])}), file=sys.stderr, flush=True)
        if args.sequential and args.score_every and done["edits"] % args.score_every == 0 and done["edits"] < len(cases):
            so_far = _mean([score(model, tok, c) for c in cases[: done["edits"]]])
            curve.append({"edits": done["edits"], **so_far})
            print(json.dumps({"scored_so_far": curve[-1]}), file=sys.stderr, flush=True)
    if args.sequential:
        after = [score(model, tok, c) for c in cases]
        weights.restore()
    report = {
        "data": str(args.data), "n": len(cases), "offset": args.offset, "method": args.method,
        "layers": layers, "sequential": args.sequential, "chat_context": not args.no_chat_context, "covariance": args.covariance if covs else "identity",
        **_mean(after),
        "before": _mean(before),
        "seconds_per_edit": round(sum(seconds) / len(seconds), 3) if seconds else None,
        **({"curve": curve} if curve else {}),
        "device": str(next(model.parameters()).device), "threads": torch.get_num_threads(),
    }
    if args.chat:
        report["chat"] = chat_metric(model, tok, editor, covs, weights, Path(args.mquake), args.chat)
    return report


def chat_metric(model, tok: Tokenizer, editor, covs, weights: _Weights, path: Path, n: int) -> dict:
    """Share of chat answers naming the new target, before and after a single edit."""
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m editing.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="CounterFact JSON (EasyEdit flat format)")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--offset", type=int, default=0, help="skip this many records (e.g. ones used for tuning)")
    p.add_argument("--sequential", action="store_true", help="keep every edit applied; score all at the end")
    p.add_argument("--method", default="rome", choices=["rome", "rome-identity", "memit", "alphaedit"])
    p.add_argument("--batch-size", type=int, default=1, help="facts per memit/alphaedit edit when sequential")
    p.add_argument("--score-every", type=int, default=0, help="when sequential, also score the edits so far every N edits")
    p.add_argument("--layer", type=int, default=None, help="ROME layer (default: editing.arch.default_layer)")
    p.add_argument("--model", default=None, help="path or hub id (default: $PALIMPSEST_MODEL or the prepared default)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--covariance", default="self", help='"self" (model-sampled text) or a corpus file')
    p.add_argument("--cov-texts", type=int, default=CovarianceConfig.n_texts)
    p.add_argument("--cache", type=Path, default=None, help="statistics cache (default: <PALIMPSEST cache>/edits)")
    p.add_argument("--chat", type=int, default=0, help="MQuAKE rewrites to ask through the chat template")
    p.add_argument("--mquake", default=str(Path(__file__).resolve().parents[2] / "shared/data/editing/mquake/MQuAKE-hard.json"))
    p.add_argument("--no-chat-context", action="store_true", help="leave out the chat-template context (ContextConfig.chat)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.cache is None:
        args.cache = default_cache() / "edits"
    try:
        report = run(args)
    except ModelNotPreparedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
