"""Regression guard: score a probe set before and after each weight change; undo a harmful one.

Probes are (prompt, continuation) pairs in groups: ``general`` knowledge prompts with their
answers, and the probes that earlier applied entries
carry in ``details["probes"]`` (an edit's fact, a skill's eval examples). A group's score is the
mean length-normalised probability of its continuations; a relative drop past the threshold in
any group reverts the change, and so does a score that is not finite (NaN weights score NaN).

Fluency and general ability are scored too (:mod:`editing.fluency`): the n-gram entropy of
greedy continuations of fixed prompts (text that loops or repeats scores lower) and the perplexity
of a fixed general text. A relative entropy drop or perplexity rise past its threshold reverts the
change. The model-wide scores (general probes, fluency) of the weights last scored are kept, so
the "before" of a change that follows an accepted one costs nothing, and the last greedy
continuations are kept as a draft: a change that leaves them as they were (the edit gate keeps an
edit out of prompts far from its subject) is checked in one forward pass instead of 32 decoding
steps (``editing.fluency.greedy_ids``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from editing.fluency import FluencyCheck
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


FLUENCY = ("entropy", "perplexity")
"""Keys of the fluency scores next to the probe groups' scores."""


@dataclass
class GuardConfig:
    threshold: float = 0.10
    """Relative drop of any group's score that reverts the change (0.10 = 10 %)."""
    max_entry_probes: int = 64
    """Probes taken from earlier entries, newest first."""
    batch_size: int = 32
    fluency: bool = True
    """Also score the n-gram entropy of greedy generations and the perplexity of a general text."""
    entropy_drop: float = 0.10
    """Relative drop of the generations' n-gram entropy that reverts the change."""
    perplexity_rise: float = 0.20
    """Relative rise of the general text's perplexity that reverts the change."""
    fluency_tokens: int = 32
    """Tokens generated greedily per fluency prompt."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("guard threshold must be in (0, 1)")
        if not 0.0 < self.entropy_drop < 1.0 or self.perplexity_rise <= 0.0:
            raise ValueError("guard entropy_drop must be in (0, 1) and perplexity_rise > 0")
        if self.fluency_tokens < 4:
            raise ValueError("guard fluency_tokens must be >= 4")


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
    fluency: dict[str, float] = field(default_factory=dict)
    """Relative ``entropy_drop`` and ``perplexity_rise`` (scores are in ``before``/``after``)."""

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


def _weights_version(model: PreTrainedModel) -> tuple[int, ...]:
    """Changes whenever a parameter is written in place (its version counter moves)."""
    return (id(model), *(p._version for p in model.parameters()))


class RegressionGuard:
    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._last: tuple[tuple[int, ...], dict[str, float]] | None = None
        """(weights version, model-wide scores) of the weights scored last."""
        self._fluency = FluencyCheck(max_new_tokens=config.fluency_tokens)
        """Keeps the last generations: a change that leaves them as they were costs one pass."""

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
        """Revert when any group drops past the threshold or scores a non-finite value, or when the
        fluency scores (when present) drop or rise past theirs."""
        groups = {g: v for g, v in before.items() if g not in FLUENCY}
        drops = relative_drops(groups, after)
        fluency = {}
        if all(k in before and k in after for k in FLUENCY):
            fluency = {"entropy_drop": relative_drops({"e": before["entropy"]}, {"e": after["entropy"]})["e"],
                       "perplexity_rise": -relative_drops({"p": before["perplexity"]}, {"p": after["perplexity"]})["p"]}
        verdict = Verdict(before=before, after=after, drops=drops, seconds=seconds,
                          threshold=self.config.threshold, probes={g: len(p) for g, p in probes.items()},
                          fluency=fluency)
        broken = [g for g, d in {**drops, **fluency}.items() if math.isnan(d)]
        worst = max(drops, key=drops.get) if drops and not broken else None
        if broken:
            verdict.reverted = True
            verdict.reason = (f"regression guard: '{broken[0]}' scored a non-finite value "
                              "(NaN or infinite weights?); the change was reverted")
        elif worst is not None and drops[worst] > self.config.threshold:
            verdict.reverted = True
            verdict.reason = (f"regression guard: '{worst}' probes dropped {drops[worst]:.1%} "
                              f"(threshold {self.config.threshold:.0%}); the change was reverted")
        elif fluency and fluency["entropy_drop"] > self.config.entropy_drop:
            verdict.reverted = True
            verdict.reason = (f"regression guard: fluency (n-gram entropy of greedy generations) dropped "
                              f"{fluency['entropy_drop']:.1%} (threshold {self.config.entropy_drop:.0%}): the text "
                              "repeats itself; the change was reverted")
        elif fluency and fluency["perplexity_rise"] > self.config.perplexity_rise:
            verdict.reverted = True
            verdict.reason = (f"regression guard: the perplexity of a general text rose "
                              f"{fluency['perplexity_rise']:.1%} (threshold {self.config.perplexity_rise:.0%}); "
                              "the change was reverted")
        return verdict

    def scored(self, model: PreTrainedModel) -> bool:
        """Whether the model-wide scores of ``model``'s current weights are kept (a "before" for free)."""
        return self._last is not None and self._last[0] == _weights_version(model)

    def score(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
              probes: dict[str, list[tuple[str, str]]]) -> tuple[dict[str, float], float]:
        """Group scores (plus ``entropy`` and ``perplexity`` with ``fluency``) and the seconds taken.
        The model-wide scores come from the last call when the weights have not moved since."""
        started = time.perf_counter()
        version = _weights_version(model)
        wide = self._last[1] if self._last is not None and self._last[0] == version else None
        if wide is None:
            wide = group_scores(model, tokenizer, {"general": probes["general"]}, self.config.batch_size) \
                if "general" in probes else {}
            if self.config.fluency:
                wide.update(self._fluency.score(model, tokenizer))
            self._last = (version, wide)
        rest = {g: p for g, p in probes.items() if g != "general"}
        scores = {**wide, **group_scores(model, tokenizer, rest, self.config.batch_size)}
        return scores, time.perf_counter() - started
