"""The extractor registry: every extractor by name, built with `build_extractor`.

`rule` is the deterministic extractor of `memory/extract.py`, `llm` the model-based OpenIE of
`memory/openie.py`; both share the `Extractor` interface.
"""

from __future__ import annotations

from typing import Callable

from memory.extract import Extractor, RuleExtractor
from memory.openie import LLMExtractor

EXTRACTORS: dict[str, Callable[..., Extractor]] = {"rule": RuleExtractor, "llm": LLMExtractor}


def build_extractor(name: str, **kwargs) -> Extractor:
    """Build a registered extractor by name ("rule", "llm")."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; choose one of {sorted(EXTRACTORS)}")
    return EXTRACTORS[name](**kwargs)
