"""Regression guard: score a probe set before and after each weight change; undo a harmful one.

Probes are (prompt, continuation) pairs in groups: ``general`` knowledge prompts with their
answers, and the probes that earlier applied entries
carry in ``details["probes"]`` (an edit's fact, a skill's eval examples). A group's score is the
mean length-normalised probability of its continuations; a relative drop past the threshold in
any group reverts the change, and so does a score that is not finite (NaN weights score NaN).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from editing.probe import continuation_probs

from .history import finite

GENERAL_PROBES: list[tuple[str, str]] = [
    ("The capital of France is", "Paris"), ("The capital of Japan is", "Tokyo"),
    ("The capital of Italy is", "Rome"), ("The capital of Germany is", "Berlin"),
    ("The largest planet in the solar system is", "Jupiter"), ("Water is made of hydrogen and", "oxygen"),
    ("The chemical symbol for gold is", "Au"), ("The first president of the United States was", "George Washington"),
    ("Romeo and Juliet was written by", "William Shakespeare"), ("The sun rises in the", "east"),
    ("A week has seven", "days"), ("The opposite of hot is", "cold"), ("Two plus two equals", "four"),
    ("On a clear day the sky is", "blue"), ("The Great Wall is located in", "China"),
    ("The Pacific is an", "ocean"), ("Bread is made from", "flour"),
    ("Water freezes at zero degrees", "Celsius"), ("The Amazon rainforest is in South", "America"),
    ("The language spoken in Brazil is", "Portuguese"), ("Albert Einstein developed the theory of", "relativity"),
    ("The currency of the United Kingdom is the", "pound"), ("Photosynthesis takes place in the", "leaves"),
    ("The heart pumps", "blood"), ("Honey is made by", "bees"), ("The Eiffel Tower is in", "Paris"),
    ("The main ingredient of guacamole is", "avocado"), ("There are twelve months in a", "year"),
    ("The tallest mountain in the world is Mount", "Everest"), ("Ice is frozen", "water"),
]
"""General knowledge the base model states; its probabilities must not collapse after a change."""


@dataclass
class GuardConfig:
    threshold: float = 0.10
    """Relative drop of any group's score that reverts the change (0.10 = 10 %)."""
    max_entry_probes: int = 64
    """Probes taken from earlier entries, newest first."""
    batch_size: int = 32

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("guard threshold must be in (0, 1)")


@dataclass
class Verdict:
    before: dict[str, float]
    after: dict[str, float]
    drops: dict[str, float]
    seconds: float
    threshold: float
    reverted: bool = False
    reason: str = ""
    probes: dict[str, int] = field(default_factory=dict)

    def as_details(self) -> dict[str, Any]:
        """JSON-ready: a score that is not finite becomes None."""
        return finite(asdict(self))


def group_scores(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, probes: dict[str, list[tuple[str, str]]], batch_size: int
) -> dict[str, float]:
    scores = {}
    for group, pairs in probes.items():
        probs = [p for i in range(0, len(pairs), batch_size)
                 for p in continuation_probs(model, tokenizer, pairs[i:i + batch_size])]
        scores[group] = sum(probs) / len(probs)
    return scores


def relative_drops(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per group ``(before - after) / before``; NaN where either score is not finite."""
    drops = {}
    for g in before:
        if not (math.isfinite(before[g]) and math.isfinite(after.get(g, math.nan))):
            drops[g] = math.nan
        else:
            drops[g] = (before[g] - after[g]) / before[g] if before[g] > 0 else 0.0
    return drops


class RegressionGuard:
    def __init__(self, config: GuardConfig) -> None:
        self.config = config

    def probes(self, earlier_details: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
        """General probes plus those of earlier applied entries (``details["probes"]``), by group."""
        groups: dict[str, list[tuple[str, str]]] = {"general": list(GENERAL_PROBES)}
        taken = 0
        for details in earlier_details:
            for probe in details.get("probes", []):
                if taken >= self.config.max_entry_probes:
                    break
                groups.setdefault(probe.get("group", "entries"), []).append((probe["prompt"], probe["continuation"]))
                taken += 1
        return {g: pairs for g, pairs in groups.items() if pairs}

    def judge(self, before: dict[str, float], after: dict[str, float], seconds: float,
              probes: dict[str, list[tuple[str, str]]]) -> Verdict:
        """Revert when any group drops past the threshold or scores a non-finite value."""
        drops = relative_drops(before, after)
        verdict = Verdict(before=before, after=after, drops=drops, seconds=seconds,
                          threshold=self.config.threshold, probes={g: len(p) for g, p in probes.items()})
        broken = [g for g, d in drops.items() if math.isnan(d)]
        worst = max(drops, key=drops.get) if drops and not broken else None
        if broken:
            verdict.reverted = True
            verdict.reason = (f"regression guard: '{broken[0]}' probes scored a non-finite value "
                              "(NaN or infinite weights?); the change was reverted")
        elif worst is not None and drops[worst] > self.config.threshold:
            verdict.reverted = True
            verdict.reason = (f"regression guard: '{worst}' probes dropped {drops[worst]:.1%} "
                              f"(threshold {self.config.threshold:.0%}); the change was reverted")
        return verdict

    def score(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
              probes: dict[str, list[tuple[str, str]]]) -> tuple[dict[str, float], float]:
        started = time.perf_counter()
        return group_scores(model, tokenizer, probes, self.config.batch_size), time.perf_counter() - started
