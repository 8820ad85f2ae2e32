"""Single edits, variant against variant on the same cases: specificity, free generation, fluency.

    python bench/edit_variants.py --data $DATA/editing/counterfact/counterfact-edit.json \
        --offset 0 --n 30 --variants rome,mpes,memit --rows /tmp/variants-tune.jsonl

Each case is written by every variant in turn (so machine noise hits all alike), scored and taken
off again: teacher-forced efficacy / generalization / specificity, free-generation hits and the
n-gram entropy of those generations (``editing.evaluate``), the perplexity of the general text, and
the guard's fluency scores (entropy of greedy generations of fixed prompts, perplexity): how many
good edits the guard's thresholds would revert. The subject's essence, asked in a way no edit trains
on: ``essence_nll`` is the mean NLL of the unedited model's greedy chat answer to "What is
<subject>?" (24 tokens), teacher-forced (its rise over the unedited row is how far an edit moved
what the model says the subject is); ``essence_answer`` is the greedy answer itself. Prints the
means, the unedited model's, the ratios to the first variant, seconds and value steps per edit.
Rows go to ``--rows`` as they are made; the same command resumes.

With ``--mquake``, the first rewrite of each of ``--mquake-n`` MQuAKE records is written by every
variant as well, and its question asked through the chat template (``editing.evaluate.chat_answer``):
``chat`` is the share of answers that name the new object.

Variants: ``rome`` (ROME, the NLL early stop, the value optimised in the default precision),
``fast`` (``PALIMPSEST_EDIT_VALUE_SCHEDULE=fast``: 12 Adam steps at lr 0.75, none on the model as
loaded), ``fast_echo`` (the same with the ``echo`` chat row), ``fp32`` (``rome`` with the value
optimised in fp32 where the default picks bfloat16), ``mpes`` (ENCORE's most-probable early stop),
``memit`` (the fact spread over MEMIT's five layers), ``clamp1`` (||δ|| <= 1 ||v|| instead of 4, a
tighter value-norm bound), ``kl4x`` and ``kl16x``
(the essence KL weighted 4 and 16 times the default 0.0625), ``echo`` and ``both``
(``PALIMPSEST_EDIT_CHAT_REPLY``: the chat row's reply repeats the prompt before the target, or one
row of each kind), ``echo_stop15`` and ``echo_stop30`` (``echo`` stopping once the mean target NLL
is below 0.15 or 0.3 instead of 0.05), ``echo_nofallback`` (``echo`` without the second try of an
edit whose answer repeats, ``RomeConfig.fallback_clamp``). A variant named
``<variant>+gate`` is that variant's edit (reused when the variant ran on the case just before)
with the scope gate of ``editing.gate``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from editing.config import ChatReply, ContextConfig, RomeConfig
from editing.evaluate import chat_answer, load_cases, mean_scores, names_target, score
from editing.gate import EditGate, GateConfig, WrittenFacts
from editing.fluency import fluency_scores, perplexity
from editing.memit import MemitConfig, memit_edit, memit_layers
from editing.request import EditRequest
from editing.rome import resolve_layer, rome_edit

from serving.core.guard import GuardConfig
from serving.evaluation.edits import covariances
from serving.services.edits import VALUE_SCHEDULES
from serving.evaluation.host import DeltaWriter

from common import load, model_options, statistics_cache

ESSENCE_TOKENS = 24


def rome(chat: bool, reply: ChatReply = "target", **overrides) -> RomeConfig:
    return RomeConfig(contexts=ContextConfig(chat=chat, chat_reply=reply), **overrides)


def editors(model, tok, layer: int, chat: bool, covs: dict) -> dict:
    """name -> request -> EditResult."""
    memit = MemitConfig()
    memit.value.contexts.chat = chat
    return {
        "rome": lambda r: rome_edit(model, tok, r, rome(chat, layer=layer), covs[layer]),
        "fast": lambda r: rome_edit(model, tok, r, rome(chat, layer=layer, **VALUE_SCHEDULES["fast"]), covs[layer]),
        "fast_echo": lambda r: rome_edit(
            model, tok, r, rome(chat, "echo", layer=layer, **VALUE_SCHEDULES["fast"]), covs[layer]),
        "fp32": lambda r: rome_edit(model, tok, r, rome(chat, layer=layer, value_dtype="float32"), covs[layer]),
        "mpes": lambda r: rome_edit(model, tok, r, rome(chat, layer=layer, early_stop="most_probable"), covs[layer]),
        "clamp1": lambda r: rome_edit(model, tok, r, rome(chat, layer=layer, clamp_norm_factor=1.0), covs[layer]),
        "echo": lambda r: rome_edit(model, tok, r, rome(chat, "echo", layer=layer), covs[layer]),
        "echo_nofallback": lambda r: rome_edit(model, tok, r, rome(chat, "echo", layer=layer, fallback_clamp=None),
                                               covs[layer]),
        "echo_stop15": lambda r: rome_edit(model, tok, r, rome(chat, "echo", layer=layer, early_stop_nll=0.15),
                                           covs[layer]),
        "echo_stop30": lambda r: rome_edit(model, tok, r, rome(chat, "echo", layer=layer, early_stop_nll=0.3),
                                           covs[layer]),
        "both": lambda r: rome_edit(model, tok, r, rome(chat, "both", layer=layer), covs[layer]),
        "kl4x": lambda r: rome_edit(model, tok, r, rome(chat, layer=layer, kl_factor=0.25), covs[layer]),
        "kl16x": lambda r: rome_edit(model, tok, r, rome(chat, layer=layer, kl_factor=1.0), covs[layer]),
        "memit": lambda r: memit_edit(model, tok, [r], memit, covs),
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--variants", default="rome,mpes,memit", help="first is the reference of the ratios")
    p.add_argument("--no-chat-context", action="store_true")
    p.add_argument("--rows", type=Path, required=True, help="JSONL of finished rows; resumed from")
    p.add_argument("--max-minutes", type=float, default=0)
    p.add_argument("--mquake", type=Path, help="MQuAKE records whose first rewrite's chat answer is scored too")
    p.add_argument("--mquake-offset", type=int, default=0)
    p.add_argument("--mquake-n", type=int, default=0)
    args = model_options(p).parse_args()
    started = time.perf_counter()
    host = load(args)
    model, tok = host.model, host.tokenizer
    layer = resolve_layer(model, None)
    covs = covariances(host, sorted({layer, *memit_layers(model, None)}), statistics_cache())
    variants = args.variants.split(",")
    edit = editors(model, tok, layer, not args.no_chat_context, covs)
    cases = [("counterfact", i, case.request, lambda case=case: score(model, tok, case, free=True))
             for i, case in enumerate(load_cases(Path(args.data), args.n, args.offset))]
    if args.mquake:
        cases += [("chat", i, request, lambda r=request, q=question: {"chat": names_target(chat_answer(model, tok, q),
                                                                                          r.target_new)})
                  for i, (request, question) in enumerate(first_rewrites(args.mquake, args.mquake_offset,
                                                                          args.mquake_n))]
    done = [json.loads(line) for line in args.rows.read_text().splitlines()] if args.rows.exists() else []
    seen = {(r.get("kind", "counterfact"), r["case"], r["variant"]) for r in done}
    weights = DeltaWriter(host)
    gate = EditGate(model, GateConfig())
    base_guard = fluency_scores(model, tok)
    base_ppl = perplexity(model, tok)
    with args.rows.open("a") as out:
        for kind, i, request, scores in cases:
            written: dict = {}
            reference = essence_greedy(model, tok, essence_question(tok, request.subject))  # still unedited
            for name in ["unedited", *variants]:
                if (kind, i, name) in seen:
                    continue
                if args.max_minutes and time.perf_counter() - started > 60 * args.max_minutes:
                    print(json.dumps({"stopped_at": [kind, i], "resume": "run the same command"}))
                    return 0
                row = {"kind": kind, "case": i, "variant": name}
                if name != "unedited":
                    variant, _, gated = name.partition("+")
                    if variant not in written:
                        t = time.perf_counter()
                        written[variant] = (edit[variant](request), time.perf_counter() - t)
                    result, row["seconds"] = written[variant]
                    row["steps"] = result.diagnostics.get("steps")
                    weights.add(result.delta)
                    gate.set([WrittenFacts(result.factors, result.keys)] if gated else [], covs)
                row.update(scores(), **essence(model, tok, request.subject, reference))
                if kind == "counterfact":
                    guard = fluency_scores(model, tok) if name != "unedited" else base_guard
                    row.update(perplexity=perplexity(model, tok) if name != "unedited" else base_ppl,
                               guard_entropy=guard["entropy"], guard_perplexity=guard["perplexity"])
                weights.restore()
                gate.set([])
                out.write(json.dumps(row) + "\n")
                out.flush()
                done.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(report(done, variants, base_guard), indent=2))
    return 0


def essence_question(tok, subject: str) -> list[int]:
    messages = [{"role": "user", "content": f"What is {subject}?"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tok.encode(text, add_special_tokens=False)


def essence_greedy(model, tok, question: list[int]) -> list[int]:
    ids = torch.tensor([question], device=next(model.parameters()).device)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=ESSENCE_TOKENS,
                             do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=pad)
    answer = out[0, len(question):].tolist()
    return answer[: answer.index(tok.eos_token_id) + 1] if tok.eos_token_id in answer else answer


def essence(model, tok, subject: str, reference: list[int]) -> dict:
    """The reference answer's mean NLL now, and the greedy answer now."""
    question = essence_question(tok, subject)
    ids = torch.tensor([question + reference], device=next(model.parameters()).device)
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, len(question) - 1 : -1].float(), -1)
    nll = -logp.gather(1, ids[0, len(question):, None]).mean().item()
    answer = essence_greedy(model, tok, question)
    return {"essence_nll": round(nll, 4), "essence_answer": tok.decode(answer, skip_special_tokens=True)}


def first_rewrites(path: Path, offset: int, n: int) -> list[tuple[EditRequest, str]]:
    """The first requested rewrite of MQuAKE records offset .. offset + n - 1, with its question."""
    out = []
    for record in json.loads(path.read_text(encoding="utf-8"))[offset : offset + n]:
        rw = record["requested_rewrite"][0]
        request = EditRequest(rw["prompt"].format(rw["subject"]), rw["subject"], rw["target_new"]["str"],
                              rw["target_true"]["str"])
        out.append((request, rw["question"]))
    return out


def report(rows: list[dict], variants: list[str], base_guard: dict) -> dict:
    cfg = GuardConfig()
    out: dict = {}
    for name in ["unedited", *variants]:
        edited = [r for r in rows if r["variant"] == name]
        mine = [r for r in edited if r.get("kind", "counterfact") == "counterfact"]
        chats = [r for r in edited if r.get("kind") == "chat"]
        if not edited:
            continue
        metrics = ("efficacy", "generalization", "specificity", "free_efficacy", "free_generalization", "fluency",
                   "perplexity")
        out[name] = {**mean_scores([{k: r[k] for k in metrics} for r in mine]), "n": len(mine)}
        if all("essence_nll" in r for r in edited):
            out[name]["essence_nll"] = round(statistics.mean(r["essence_nll"] for r in edited), 3)
        if chats:
            out[name].update(mean_scores([{"chat": r["chat"]} for r in chats]), chat_n=len(chats))
        if name != "unedited":
            out[name].update(
                seconds_per_edit=round(statistics.mean(r["seconds"] for r in edited), 2),
                steps_per_edit=round(statistics.mean(r["steps"] for r in edited if r["steps"] is not None), 1)
                if any(r["steps"] is not None for r in edited) else None,
            )
        if name != "unedited" and mine:
            drops = [(base_guard["entropy"] - r["guard_entropy"]) / base_guard["entropy"] for r in mine]
            rises = [(r["guard_perplexity"] - base_guard["perplexity"]) / base_guard["perplexity"] for r in mine]
            out[name].update(
                guard_entropy_drop_max=round(max(drops), 3), guard_perplexity_rise_max=round(max(rises), 3),
                guard_would_revert=sum(d > cfg.entropy_drop or q > cfg.perplexity_rise for d, q in zip(drops, rises)),
            )
    ref = variants[0]
    if ref in out:
        out[f"ratios_to_{ref}"] = {
            name: {k: round(out[name][k] / out[ref][k], 3) if out[ref].get(k) else None
                   for k in ("efficacy", "generalization", "specificity", "free_efficacy", "free_generalization",
                             "fluency", "perplexity", "chat", "seconds_per_edit")}
            for name in variants[1:] if name in out
        }
    if "unedited" in out:
        out["ratios_to_unedited"] = {
            name: {k: round(out[name][k] / out["unedited"][k], 3) if out["unedited"].get(k) else None
                   for k in ("specificity", "fluency", "perplexity")}
            for name in variants if name in out
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
