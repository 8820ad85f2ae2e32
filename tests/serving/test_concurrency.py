"""Readers see the old or the new weights, never a half-applied change."""

from __future__ import annotations

import threading

import torch

from tests.helpers.engine import engine_on
from tests.helpers.models import tiny_tokenizer

A = "model.layers.0.mlp.down_proj.weight"
B = "model.layers.2.mlp.down_proj.weight"


def test_reader_never_sees_a_half_applied_delta(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    params = dict(tiny_llama.named_parameters())
    base_a, base_b = params[A].detach().clone(), params[B].detach().clone()
    stop = threading.Event()
    torn: list[tuple[float, float]] = []
    overlapped: list[float] = []  # reads that began while a weight write was in flight

    # Every weight write waits until a reader has begun a read, so reads and writes really overlap.
    writing, reader_arrived = threading.Event(), threading.Event()
    write = engine.host.set_parameters

    def write_once_a_reader_arrives(values: dict[str, torch.Tensor], then=None) -> None:
        reader_arrived.clear()
        writing.set()
        reader_arrived.wait(timeout=30)
        try:
            write(values, then)
        finally:
            writing.clear()

    engine.host.set_parameters = write_once_a_reader_arrives

    def reader() -> None:
        while not stop.is_set():
            during_write = writing.is_set()
            if during_write:
                reader_arrived.set()
            with engine.host.reading():
                shift_a = float((params[A].detach() - base_a).mean())
                shift_b = float((params[B].detach() - base_b).mean())
            if during_write:
                overlapped.append(shift_a)
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
    assert overlapped, "no read overlapped a weight write, so the test proved nothing"
    assert torn == []
    assert torch.allclose(params[A] - base_a, torch.full(base_a.shape, 0.5 * 7))
