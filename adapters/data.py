"""Skills as data: validation, the chat-formatted prompt, and tokenisation with the loss on outputs only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Tokenizer: TypeAlias = "PreTrainedTokenizerBase"
"""Any Hugging Face tokenizer, slow or fast (transformers is imported only for type checking)."""

IGNORE_INDEX = -100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SkillDataError(ValueError):
    """The skill cannot be learned as given; the message says what to fix."""


@dataclass(frozen=True)
class Example:
    input: str
    output: str


@dataclass
class Skill:
    """A named skill: an optional instruction and demonstration pairs, or (``raw``) passages of a
    domain's text, each an Example with an empty input, learned with the plain language-modelling loss."""

    name: str
    examples: list[Example]
    instruction: str | None = None
    metadata: dict = field(default_factory=dict)
    raw: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name or ""):
            raise SkillDataError(
                f"skill name {self.name!r} is not valid: use 1-64 letters, digits, '_', '-' or '.'"
            )
        if not self.examples:
            raise SkillDataError(f"skill {self.name!r} has no examples: give at least one input/output pair")
        empty = [i for i, ex in enumerate(self.examples) if not ex.output.strip()]
        if empty:
            raise SkillDataError(
                f"skill {self.name!r}: example(s) {empty[:10]} have an empty output; every example needs one"
            )
        if self.instruction is not None and not self.instruction.strip():
            self.instruction = None


def examples_from_dicts(rows: list[dict]) -> list[Example]:
    """Parse `[{"input", "output"}]` rows; missing or non-string fields raise SkillDataError."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("output"), str):
            raise SkillDataError(f"example {i} needs a string 'output' (and an 'input')")
        inp = row.get("input", "")
        if not isinstance(inp, str):
            raise SkillDataError(f"example {i}: 'input' must be a string")
        out.append(Example(inp, row["output"]))
    return out


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSON Lines file (a JSON array is accepted too)."""
    text = Path(path).read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def user_message(instruction: str | None, text: str) -> str:
    """What the user says in chat to invoke the skill: the instruction, a blank line, the input."""
    if instruction:
        return f"{instruction}\n\n{text}" if text else instruction
    return text


def chat_prompt(tokenizer: Tokenizer, instruction: str | None, text: str) -> str:
    """The chat-templated prompt (with the assistant turn opened) that the answer follows."""
    messages = [{"role": "user", "content": user_message(instruction, text)}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@dataclass(frozen=True)
class Encoded:
    """Token ids of prompt + answer, and labels with the prompt masked to IGNORE_INDEX."""

    input_ids: list[int]
    labels: list[int]


def encode(tokenizer: Tokenizer, instruction: str | None, example: Example, max_length: int) -> Encoded:
    """Tokenise one example; the answer ends with the end-of-turn token so the model learns to stop.

    When too long, the prompt is cut from the left (keeping its assistant header), then the answer
    from the right.
    """
    prompt_ids = tokenizer(chat_prompt(tokenizer, instruction, example.input), add_special_tokens=False)[
        "input_ids"
    ]
    answer_ids = tokenizer(example.output.strip(), add_special_tokens=False)["input_ids"]
    end = tokenizer.eos_token_id
    answer_ids = answer_ids + ([end] if end is not None else [])
    answer_ids = answer_ids[: max_length // 2] if len(prompt_ids) + len(answer_ids) > max_length else answer_ids
    room = max_length - len(answer_ids)
    if len(prompt_ids) > room:
        prompt_ids = prompt_ids[len(prompt_ids) - room :]
    return Encoded(prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids)


def text_examples(tokenizer: Tokenizer, text: str, block_tokens: int) -> list[Example]:
    """Raw text cut into passages of at most ``block_tokens`` tokens (a domain skill's examples)."""
    ids = tokenizer(text.strip(), add_special_tokens=False)["input_ids"]
    blocks = [tokenizer.decode(ids[i : i + block_tokens]) for i in range(0, len(ids), block_tokens)]
    return [Example("", block) for block in blocks if block.strip()]


def encode_text(tokenizer: Tokenizer, example: Example, max_length: int) -> Encoded:
    """A raw passage for the language-modelling loss: every token is a label (no chat template)."""
    ids = tokenizer(example.output, add_special_tokens=False)["input_ids"][:max_length]
    return Encoded(ids, list(ids))


def encode_any(tokenizer: Tokenizer, instruction: str | None, example: Example, max_length: int, raw: bool) -> Encoded:
    """:func:`encode_text` for raw passages, :func:`encode` for demonstration pairs."""
    return encode_text(tokenizer, example, max_length) if raw else encode(tokenizer, instruction, example, max_length)


def micro_batches(items: list[Encoded], max_tokens: int) -> list[list[Encoded]]:
    """Split a batch, shortest first, into runs whose padded size (rows x longest) stays within
    max_tokens; a single longer example is a run of its own."""
    runs: list[list[Encoded]] = []
    for it in sorted(items, key=lambda e: len(e.input_ids)):
        if runs and (len(runs[-1]) + 1) * len(it.input_ids) <= max_tokens:
            runs[-1].append(it)
        else:
            runs.append([it])
    return runs


def collate(items: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch: input_ids, attention_mask, labels, each (batch, longest)."""
    width = max(len(it.input_ids) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it.input_ids)
        ids[row, :n] = torch.tensor(it.input_ids)
        labels[row, :n] = torch.tensor(it.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
