"""Self-Synthesized Rehearsal (SSR, Huang et al. 2024): the model writes rehearsal examples for a
skill from a few demos, the model that learned the skill relabels them, k-means keeps diverse ones.

Pipeline (as in the reference code): 2-shot in-context generation with the model *before* the
skill -> parse "Input:/Output:" (an input without an output is kept too) -> select inputs by
k-means over sentence embeddings (nearest to the centroids, slots proportional to cluster size)
-> greedy refinement of the outputs by the model *after* the skill.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .config import SkillConfigError
from .data import Example, Tokenizer
from .generate import answer, generate

Embed = Callable[[list[str]], np.ndarray]


@dataclass
class SSRConfig:
    """Sizes and decoding of the synthesis; defaults are scaled down from the paper for CPUs."""

    n_prompts: int = 24
    """2-shot prompts built from ordered pairs of demos (the paper uses all 20*19 = 380)."""
    samples_per_prompt: int = 2
    """Sampled continuations per prompt (the paper: 3 tries)."""
    temperature: float = 0.9
    top_p: float = 0.6
    repetition_penalty: float = 1.2
    max_new_tokens: int = 160
    n_select: int = 20
    """Synthetic examples kept per skill (the paper: 200)."""
    n_clusters: int = 8
    """k of the k-means diversity selection (the paper: 20)."""
    answer_tokens: int = 96
    """Most tokens of a refined output."""
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_prompts", "samples_per_prompt", "max_new_tokens", "n_select", "n_clusters", "answer_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise SkillConfigError(f"SSRConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (0 < self.top_p <= 1 and self.temperature > 0):
            raise SkillConfigError("SSRConfig needs temperature > 0 and 0 < top_p <= 1")


def icl_prompts(instruction: str | None, demos: list[Example], n_prompts: int, rng: random.Random) -> list[str]:
    """Raw (untemplated) 2-shot prompts ending in "Input:", one per ordered pair of distinct demos."""
    if len(demos) < 2:
        raise ValueError("SSR needs at least two demos of the skill")
    pairs = [(i, j) for i in range(len(demos)) for j in range(len(demos)) if i != j]
    head = f"{instruction.strip()}\n\n" if instruction else ""
    prompts = []
    for i, j in rng.sample(pairs, min(n_prompts, len(pairs))):
        shots = "".join(f"Input: {demos[k].input}\nOutput: {demos[k].output}\n\n" for k in (i, j))
        prompts.append(f"{head}{shots}Input:")
    return prompts


def parse_continuation(text: str, one_line: bool = False) -> Example | None:
    """The first synthetic pair in a continuation of "...Input:"; None when it has no input.

    Small models often write a plausible input and then wander off instead of writing
    "Output:". Refinement relabels every output anyway, so such an input is kept with an empty
    output; with `one_line` (the skill's demo inputs are single lines) it ends at the first
    newline, else at the first blank line.
    """
    body = text.split("\nInput:", 1)[0]
    x, marked, y = body.partition("Output:")
    x = x.strip()
    if not marked:
        x = x.split("\n" if one_line else "\n\n", 1)[0].strip()
    return Example(x, y.strip()) if len(x) >= 3 else None


def synthesize(model: torch.nn.Module, tokenizer: Tokenizer, instruction: str | None, demos: list[Example], config: SSRConfig) -> list[Example]:
    """Sampled, parsed, de-duplicated synthetic examples (inputs unseen among the demos)."""
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    prompts = icl_prompts(instruction, demos, config.n_prompts, rng) * config.samples_per_prompt
    texts = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        sample=True,
        temperature=config.temperature,
        top_p=config.top_p,
        repetition_penalty=config.repetition_penalty,
    )
    seen = {d.input.strip() for d in demos}
    one_line = not any("\n" in d.input.strip() for d in demos)
    out = []
    for text in texts:
        ex = parse_continuation(text, one_line)
        if ex is not None and ex.input not in seen:
            seen.add(ex.input)
            out.append(ex)
    return out


def select_diverse(embed: Embed, examples: list[Example], n_select: int, n_clusters: int, seed: int = 0) -> list[Example]:
    """k-means over L2-normalised input embeddings; each cluster gets round(n * size / N) slots,
    filled with the items nearest its centroid."""
    if len(examples) <= n_select:
        return list(examples)
    from sklearn.cluster import KMeans

    vectors = np.asarray(embed([ex.input for ex in examples]), dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    k = min(n_clusters, len(examples))
    km = KMeans(n_clusters=k, n_init="auto", random_state=seed).fit(vectors)
    distance = np.linalg.norm(vectors - km.cluster_centers_[km.labels_], axis=1)
    chosen: list[int] = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        slots = round(n_select * len(members) / len(examples))
        chosen += members[np.argsort(distance[members])][:slots].tolist()
    if len(chosen) < n_select:
        rest = [i for i in np.argsort(distance).tolist() if i not in set(chosen)]
        chosen += rest[: n_select - len(chosen)]
    return [examples[i] for i in sorted(chosen[:n_select])]


def refine(model: torch.nn.Module, tokenizer: Tokenizer, instruction: str | None, examples: list[Example], config: SSRConfig) -> list[Example]:
    """Replace each output by the (skill-trained) model's greedy chat answer; empty answers are dropped."""
    outputs = answer(
        model,
        tokenizer,
        instruction,
        [ex.input for ex in examples],
        max_new_tokens=config.answer_tokens,
        batch_size=config.batch_size,
    )
    return [Example(ex.input, out) for ex, out in zip(examples, outputs, strict=True) if out]


@dataclass
class SSRResult:
    examples: list[Example]
    generated: int
    """Sampled continuations."""
    parsed: int
    """Distinct usable inputs among them (the yield)."""


def self_synthesized_rehearsal(
    base_model: torch.nn.Module,
    trained_model: torch.nn.Module,
    tokenizer: Tokenizer,
    instruction: str | None,
    demos: list[Example],
    embed: Embed,
    config: SSRConfig | None = None,
) -> SSRResult:
    """The whole SSR pipeline for one skill: generate with `base_model`, select, refine with `trained_model`."""
    config = config or SSRConfig()
    candidates = synthesize(base_model, tokenizer, instruction, demos, config)
    chosen = select_diverse(embed, candidates, config.n_select, config.n_clusters, config.seed)
    refined = refine(trained_model, tokenizer, instruction, chosen, config)
    return SSRResult(refined, config.n_prompts * config.samples_per_prompt, len(candidates))


def sentence_embedder(path: str) -> Embed:
    """An Embed function backed by a local sentence-transformers model."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    return lambda texts: model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
