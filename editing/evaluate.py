"""CounterFact and MQuAKE readers and scores for weight edits (`palimpsest eval edits` runs them).

Teacher-forced: efficacy: p(new) > p(true) on the prompt; generalization: the same on the
rephrase; specificity: the locality prompt keeps p(true) > p(new). Probabilities are
length-normalised. Free generation (QAEdit's warning: teacher forcing overstates edits): the
greedy continuation of the prompt (free_efficacy) and of the rephrase (free_generalization) names
the new target within its first `FREE_TOKENS` tokens; and ROME's n-gram entropy of those
continuations (fluency). The chat check asks a MQuAKE question through the chat template and
looks for the new target in the answer.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from editing.fluency import greedy_ids, mean_entropy
from editing.probe import continuation_probs
from editing.request import EditRequest, EditRequestError, Tokenizer


@dataclass(frozen=True)
class Case:
    request: EditRequest
    rephrase: str
    locality_prompt: str
    locality_true: str


def load_cases(path: Path, n: int, offset: int = 0) -> list[Case]:
    """The first `n` usable CounterFact records from `offset` (EasyEdit's flat format); records whose
    prompt lacks the subject are skipped."""
    cases: list[Case] = []
    for rec in json.loads(path.read_text(encoding="utf-8"))[offset:]:
        if len(cases) >= n:
            break
        try:
            req = EditRequest(rec["prompt"], rec["subject"], rec["target_new"], rec["ground_truth"])
        except EditRequestError:
            continue
        cases.append(Case(req, rec["rephrase_prompt"], rec["locality_prompt"], rec["locality_ground_truth"]))
    return cases


FREE_TOKENS = 10
"""A free-generation hit names the target within this many generated tokens."""
FLUENCY_TOKENS = 32
"""Tokens generated greedily per prompt for the fluency (n-gram entropy) score."""


def names_target(text: str, target: str) -> bool:
    """The target appears in the text as whole words (case-insensitive, whitespace-normalised)."""
    words = r"\s+".join(re.escape(w) for w in target.lower().split())
    return re.search(rf"(?<!\w){words}(?!\w)", " ".join(text.lower().split())) is not None


def free_scores(model, tokenizer: Tokenizer, case: Case) -> dict[str, bool | float]:
    """Greedy continuations of the prompt and the rephrase: does each name the new target within
    `FREE_TOKENS` tokens, and the n-gram entropy of the two `FLUENCY_TOKENS`-token continuations."""
    prompts = [case.request.prompt.rstrip(), case.rephrase.rstrip()]
    ids = greedy_ids(model, tokenizer, prompts, FLUENCY_TOKENS)
    first = tokenizer.batch_decode([row[:FREE_TOKENS] for row in ids], skip_special_tokens=True)
    full = tokenizer.batch_decode(ids, skip_special_tokens=True)
    hit = [names_target(text, case.request.target_new) for text in first]
    return {"free_efficacy": hit[0], "free_generalization": hit[1], "fluency": mean_entropy(full)}


def score(model, tokenizer: Tokenizer, case: Case, free: bool = False) -> dict[str, bool | float]:
    """Teacher-forced efficacy / generalization / specificity; with `free`, also `free_scores`."""
    r = case.request
    p = continuation_probs(
        model, tokenizer,
        [(r.prompt, r.target_new), (r.prompt, r.target_true), (case.rephrase, r.target_new),
         (case.rephrase, r.target_true), (case.locality_prompt, r.target_new),
         (case.locality_prompt, case.locality_true)],
    )
    row = {"efficacy": p[0] > p[1], "generalization": p[2] > p[3], "specificity": p[5] > p[4]}
    return {**row, **free_scores(model, tokenizer, case)} if free else row


def mean_scores(rows: list[dict[str, bool | float]]) -> dict[str, float]:
    """Per metric: percent of rows where a bool metric holds, or the mean of a float one (n-gram
    entropy, perplexity), rounded to 2 places ({} for no rows)."""
    if not rows:
        return {}
    return {
        k: round((100 if isinstance(rows[0][k], bool) else 1) * sum(r[k] for r in rows) / len(rows), 2)
        for k in rows[0]
    }


def chat_answer(model, tokenizer: Tokenizer, question: str, max_new_tokens: int = 24) -> str:
    text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(next(model.parameters()).device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def mquake_rewrites(path: Path, n: int) -> list[tuple[EditRequest, str]]:
    """The first `n` distinct requested rewrites of MQuAKE records, each with its question."""
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
