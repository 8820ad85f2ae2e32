"""Readers see the old or the new weights, never a half-applied change."""

from __future__ import annotations

import threading

import torch

from tests.conftest import tiny_tokenizer
from tests.serving.helpers import engine_on

A = "model.layers.0.mlp.down_proj.weight"
B = "model.layers.2.mlp.down_proj.weight"


def test_reader_never_sees_a_half_applied_delta(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    params = dict(tiny_llama.named_parameters())
    base_a, base_b = params[A].detach().clone(), params[B].detach().clone()
    stop = threading.Event()
    torn: list[tuple[float, float]] = []

    def reader() -> None:
        while not stop.is_set():
            with engine.host.reading():
                shift_a = float((params[A].detach() - base_a).mean())
                shift_b = float((params[B].detach() - base_b).mean())
            if abs(shift_a - shift_b) > 1e-3:
                torn.append((shift_a, shift_b))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    entries = []
    for step in range(1, 16):
        delta = {A: torch.full(base_a.shape, 0.5), B: torch.full(base_b.shape, 0.5)}
        entries.append(engine.apply_delta("edit", f"step {step}", {}, delta))
    for entry in entries[::2]:
        engine.revert(entry.id)
    stop.set()
    for t in threads:
        t.join()
    assert torn == []
    assert torch.allclose(params[A] - base_a, torch.full(base_a.shape, 0.5 * 7))
