"""Continual-learning tasks and their scores (`palimpsest eval skills` learns them in sequence).

Tasks come from SSR's SuperNI split or from TRACE; each is scored with its metric (exact match,
first character, or ROUGE-L) on its evaluation examples, answered greedily through the chat template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .data import Example, Tokenizer, read_jsonl
from .generate import answer
from .metrics import Metric, score

_METRICS: dict[str, Metric] = {
    "sa": "exact_match",
    "pos": "exact_match",
    "pe": "exact_match",
    "C-STANCE": "exact_match",
    "FOMC": "exact_match",
    "NumGLUE-cm": "exact_match",
    "NumGLUE-ds": "exact_match",
    "ScienceQA": "first_char",
}


@dataclass
class Task:
    name: str
    metric: Metric
    instruction: str | None
    train: list[Example]
    demos: list[Example]
    eval: list[Example]
    answer_tokens: int


def _superni(rows: list[dict]) -> tuple[str | None, list[Example]]:
    """SSR's SuperNI rows: full_prompt = definition + blank line + input."""
    first = rows[0]
    instruction = first["full_prompt"][: len(first["full_prompt"]) - len(first["input"])].strip() or None
    return instruction, [Example(r["input"], r["output"]) for r in rows]


def load_task(root: Path, name: str, n_train: int, n_eval: int, tokenizer: Tokenizer) -> Task:
    """A task of the SSR SuperNI split (`<name>.train.smp01.json` ...) or of TRACE (`<name>/train.json`)."""
    if (root / f"{name}.train.smp01.json").exists():
        instruction, train = _superni(read_jsonl(root / f"{name}.train.smp01.json"))
        demos = _superni(read_jsonl(root / f"{name}.train.smp001.json"))[1]
        evaluation = _superni(read_jsonl(root / f"{name}.eval.json"))[1]
    elif (root / name / "train.json").exists():
        instruction = None
        rows = [Example(r["prompt"], r["answer"]) for r in read_jsonl(root / name / "train.json")]
        train, demos = rows[: len(rows) - 20], rows[len(rows) - 20 :]
        evaluation = [Example(r["prompt"], r["answer"]) for r in read_jsonl(root / name / "eval.json")]
    else:
        raise FileNotFoundError(f"task {name!r} not found in {root} (expected {name}.train.smp01.json or {name}/train.json)")
    train, evaluation = train[:n_train], evaluation[:n_eval]
    longest = max(len(tokenizer(ex.output)["input_ids"]) for ex in train)
    return Task(name, _METRICS.get(name, "rouge_l"), instruction, train, demos, evaluation, min(128, longest + 8))


def score_all(model: torch.nn.Module, tokenizer: Tokenizer, tasks: list[Task], batch_size: int) -> list[float]:
    """Each task's metric on its evaluation examples (greedy answers), rounded to 2 places."""
    scores = []
    for task in tasks:
        preds = answer(
            model,
            tokenizer,
            task.instruction,
            [ex.input for ex in task.eval],
            max_new_tokens=task.answer_tokens,
            batch_size=batch_size,
        )
        scores.append(round(score(task.metric, preds, [ex.output for ex in task.eval]), 2))
    return scores
