"""The evaluations' model: loaded by the runtime's loader, changed only through the model host.

    >>> settings = evaluation_settings(model=None)      # PALIMPSEST_* variables, fp32
    >>> host = load_host(settings)
    >>> weights = DeltaWriter(host)
    >>> weights.add(result.delta)                        # base + delta, through set_parameters
    >>> weights.restore()                                # the base bits again
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

import torch

from serving.core.history import Delta, dense
from serving.core.model_host import ModelHost
from serving.core.model_loader import load_model
from serving.core.settings import Settings
from serving.services import Runtime


def evaluation_settings(
    model: str | None = None, device: str | None = None, embedder: str | None = None
) -> Settings:
    """The server's settings with a command's ``--model`` / ``--device`` / ``--embedder`` where
    given, in float32 (evaluations and benches measure in fp32 on every device)."""
    given = {"model": model, "device": device, "embedder": embedder}
    return Settings(dtype="float32", **{k: v for k, v in given.items() if v})


@contextlib.contextmanager
def scratch_runtime(args: argparse.Namespace) -> Iterator[tuple[Runtime, TextIO | None]]:
    """A runtime over ``args.home``, or a temporary home (the converted model and the edit
    statistics stay in the usual cache), with ``args.model`` / ``device`` / ``embedder`` /
    ``extractor`` and ``threads``; and ``args.records`` open for writing (None without it). Both
    closed at the end."""
    if args.threads:
        torch.set_num_threads(args.threads)
    base = evaluation_settings(model=args.model, device=args.device, embedder=args.embedder)
    with tempfile.TemporaryDirectory(prefix="palimpsest-eval-") as scratch:
        home = Path(args.home or scratch).expanduser().resolve()
        runtime = Runtime.load(base.model_copy(
            update={"home": home, "cache": base.cache_dir, "memory_extractor": args.extractor}))
        records = open(args.records, "w", encoding="utf-8") if args.records else None
        try:
            yield runtime, records
        finally:
            runtime.close()
            if records is not None:
                records.close()


def run_settings(args: argparse.Namespace, runtime: Runtime) -> dict:
    """What a report records of its run: the command's options and the runtime's settings that
    change answers."""
    settings = runtime.settings
    used = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    return {**used, "model": settings.model, "embedder": settings.embedder,
            "home": str(settings.home) if args.home else "(temporary)", "guard": settings.guard,
            "grounding_format": settings.grounding_format, "grounding_contrast": settings.grounding_contrast,
            "grounding_copy": settings.grounding_copy, "grounding_anchor": settings.grounding_anchor,
            "grounding_substitute": settings.grounding_substitute,
            "grounding_end": settings.grounding_end, "grounding_sentences": settings.grounding_sentences,
            "edit_gate": settings.edit_gate, "edit_scope": settings.edit_scope,
            "edit_covariance": settings.edit_covariance, "edit_chat_context": settings.edit_chat_context,
            "edit_chat_reply": settings.edit_chat_reply,
            "device": str(runtime.engine.host.device), "threads": torch.get_num_threads()}


def load_host(settings: Settings) -> ModelHost:
    """The configured model and tokenizer, loaded once by ``serving.core.model_loader``."""
    model, tokenizer, device = load_model(settings)
    return ModelHost(model, tokenizer, settings.model, device)


class DeltaWriter:
    """Weight deltas added on top of the host's base weights, and taken off again exactly.

    Every write goes through ``ModelHost.set_parameters`` with fp32 values ``base + deltas``
    (summed on CPU in the order added, as the engine keeps them), so :meth:`restore` writes back
    the base bits.
    """

    def __init__(self, host: ModelHost) -> None:
        self.host = host
        self._sums: dict[str, torch.Tensor] = {}

    def add(self, delta: Mapping[str, Delta]) -> None:
        for name, d in delta.items():
            total = self._sums.get(name)
            self._sums[name] = (self.host.base_value(name) if total is None else total) + dense(d)
        self.host.set_parameters({name: self._sums[name] for name in delta})

    def change(self, name: str) -> torch.Tensor:
        """The sum of the deltas added to ``name`` since the last restore (fp32, CPU)."""
        return self._sums[name] - self.host.base_value(name)

    def restore(self) -> None:
        """Write the base values of every parameter changed since the last restore."""
        if self._sums:
            self.host.set_parameters({name: self.host.base_value(name) for name in self._sums})
        self._sums.clear()
