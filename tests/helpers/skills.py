"""A trivially checkable skill for the tiny random Llama: say the input words in reverse order."""

from __future__ import annotations

import random

from adapters import Example

from .models import TINY_WORDS


def reverse_examples(n: int, seed: int = 0) -> list[Example]:
    """`n` rows of three distinct `TINY_WORDS` and the same words reversed."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.sample(TINY_WORDS, 3)
        rows.append(Example(" ".join(words), " ".join(reversed(words))))
    return rows
