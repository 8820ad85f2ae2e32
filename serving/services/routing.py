"""Decide where an update goes: skill (examples), memory (documents, unknown subjects) or a
weight edit (one fact about a subject the model knows and answers differently).

The model is probed with the fact's cloze prompt: its greedy answer, and how much more likely that
answer is with the subject than with a neutral one (a generic continuation such as " 19" after
"<someone> was born in" says nothing about the subject). A confident different answer means the fact lives in the weights and must
be rewritten there; no confident answer means the model does not know the subject, and the fact
is better kept in the graph memory, which also keeps its source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Route = Literal["memory", "edit", "skill"]

VERBS = (
    "is", "was", "are", "were", "has", "had", "lives", "lived", "works", "worked", "plays", "played",
    "speaks", "spoke", "belongs", "belonged", "became", "died", "founded", "wrote", "won", "leads",
    "led", "owns", "owned", "married", "studied", "teaches", "taught", "directed", "invented",
    "discovered", "designed", "created", "produced", "holds", "held", "runs", "ran", "joined",
)
"""Words that end a statement's subject in the simple ``<subject> <relation> <object>`` parser."""


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str
    object: str

    @property
    def prompt(self) -> str:
        return f"{self.subject} {self.relation}".strip()


@dataclass(frozen=True)
class Probe:
    answer: str
    """The model's greedy continuation of the fact's prompt (a few tokens)."""
    confidence: float
    """Geometric-mean probability of the answer's tokens."""
    specificity: float
    """Nats per token by which the subject raises the answer over a neutral subject."""


@dataclass
class Decision:
    route: Route
    reason: str
    fact: Fact | None = None
    probe: Probe | None = None

    def as_details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"route": self.route, "reason": self.reason}
        if self.fact:
            out["fact"] = self.fact.__dict__
        if self.probe:
            out["probe"] = self.probe.__dict__
        return out


@dataclass
class RouterConfig:
    confidence: float = 0.3
    """Answer probability the model must reach to count as knowing the subject ..."""
    specificity: float = 1.0
    """... and nats per token by which the subject must raise that answer over a neutral subject."""
    max_statement_chars: int = 300

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0 or self.specificity <= 0:
            raise ValueError("router confidence must be in (0, 1) and specificity positive")


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])|\n+", text.strip())
    return [p.strip() for p in parts if p.strip()]


def parse_statement(sentence: str) -> Fact | None:
    """``<subject> <verb ...> <Object>``: the subject ends at the first verb, the object is the
    trailing run of capitalised words or numbers. None when the sentence does not have that shape."""
    words = sentence.strip().rstrip(".!").split()
    verb = next((i for i, w in enumerate(words) if i > 0 and w.lower() in VERBS), None)
    if verb is None or len(words) < verb + 2:
        return None
    start = len(words)
    while start > verb + 1 and (words[start - 1][:1].isupper() or words[start - 1][:1].isdigit()):
        start -= 1
    if start == len(words):
        return None
    return Fact(" ".join(words[:verb]), " ".join(words[verb:start]), " ".join(words[start:]))


def _mentions(answer: str, obj: str) -> bool:
    return obj.lower().strip() in answer.lower()


def decide_fact(fact: Fact, probe: Probe, config: RouterConfig) -> Decision:
    if _mentions(probe.answer, fact.object):
        return Decision("memory", f"the model already answers {probe.answer.strip()!r}; kept in memory as a source",
                        fact, probe)
    if probe.confidence >= config.confidence and probe.specificity >= config.specificity:
        return Decision("edit", f"the model knows {fact.subject!r}: it answers {probe.answer.strip()!r} "
                                f"(p={probe.confidence:.2f}, {probe.specificity:.1f} nats from the subject); "
                                f"the weights are rewritten to {fact.object!r}", fact, probe)
    return Decision("memory", f"the model does not know {fact.subject!r}: its answer {probe.answer.strip()!r} "
                              f"(p={probe.confidence:.2f}, {probe.specificity:.1f} nats from the subject) is a guess; "
                              f"stored in the graph memory", fact, probe)


def classify(update: dict[str, Any], probe: Callable[[Fact], Probe], config: RouterConfig | None = None) -> Decision:
    """``update`` holds ``examples``, ``fact`` or ``text`` (API.md's ``/v1/updates`` body)."""
    config = config or RouterConfig()
    if update.get("examples"):
        return Decision("skill", f"{len(update['examples'])} input/output examples: a skill to learn")
    if update.get("fact"):
        fact = Fact(**{k: str(update["fact"][k]).strip() for k in ("subject", "relation", "object")})
        return decide_fact(fact, probe(fact), config)
    text = str(update.get("text", "")).strip()
    found = sentences(text)
    if len(found) != 1 or len(text) > config.max_statement_chars:
        return Decision("memory", f"a document of {len(found)} sentences: stored in the graph memory")
    fact = parse_statement(found[0])
    if fact is None:
        return Decision("memory", "a statement that is not a simple subject-relation-object fact: stored in memory")
    return decide_fact(fact, probe(fact), config)


def _answer_logprob(model: Any, tokenizer: Any, prompt: str, answer: list[int]) -> float:
    """Mean log-probability of the ``answer`` tokens after ``prompt``."""
    import torch

    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + answer], device=model.device)
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    steps = torch.arange(len(head) - 1, len(head) - 1 + len(answer), device=model.device)
    return float(logp[steps, torch.tensor(answer, device=model.device)].mean())


def probe_model(model: Any, tokenizer: Any, fact: Fact, tokens: int = 4) -> Probe:
    """The model's greedy answer to the fact's prompt, and how much the subject explains it:
    mean log p(answer | subject prompt) minus the same with the neutral subject "This"."""
    import torch

    ids = torch.tensor([tokenizer(fact.prompt, add_special_tokens=False)["input_ids"]], device=model.device)
    picked: list[int] = []
    with torch.inference_mode():
        for _ in range(tokens):
            token = int(model(input_ids=ids).logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            picked.append(token)
            ids = torch.cat([ids, torch.tensor([[token]], device=model.device)], dim=1)
    if not picked:
        return Probe("", 0.0, 0.0)
    with_subject = _answer_logprob(model, tokenizer, fact.prompt, picked)
    control = _answer_logprob(model, tokenizer, f"This {fact.relation}", picked)
    return Probe(tokenizer.decode(picked, skip_special_tokens=True), float(torch.tensor(with_subject).exp()),
                 with_subject - control)
