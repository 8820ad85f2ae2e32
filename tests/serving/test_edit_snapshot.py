"""Edits optimise on a snapshot, outside the weight lock: chats go on meanwhile, an edit whose
snapshot went stale is refused with 409, and racing edits run one after the other."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import serving.services.edits as edits_module
from editing.request import EditRequest
from serving.core.engine import Engine
from serving.core.errors import ConflictError
from serving.core.generation import SamplingParams
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.services import Runtime
from tests.helpers.engine import synthetic_delta
from tests.helpers.models import tiny_tokenizer

FRANCE = EditRequest("the capital of france is", "france", "rome")
ITALY = EditRequest("the capital of italy is", "italy", "paris")
OTHER = "model.layers.0.mlp.up_proj.weight"
"""A parameter no edit writes: another change lands there."""


@pytest.fixture
def runtime(tiny_llama, tmp_path: Path) -> Iterator[Runtime]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    host = ModelHost(tiny_llama, tiny_tokenizer(), "tiny", torch.device("cpu"))
    rt = Runtime(Engine(Settings(home=tmp_path, guard=False, edit_covariance="identity"), host))
    yield rt
    rt.close()
    torch.set_num_threads(threads)


class Paused:
    """Wraps ``edits_module.<name>`` so that each call waits, once it has started, until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str,
                 meanwhile: Callable[[], None] | None = None) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.calls: list[dict[str, Any]] = []
        self.real = real = getattr(edits_module, name)

        def paused(model: torch.nn.Module, *args: Any) -> Any:
            self.calls.append({"model": model, "args": args})
            self.started.set()
            if meanwhile is not None:
                meanwhile()
            assert self.release.wait(timeout=60), "never released"
            return real(model, *args)

        monkeypatch.setattr(edits_module, name, paused)


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except Exception as exc:  # the test inspects it
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_chat_completes_while_an_edit_optimises(runtime, monkeypatch):
    rome = Paused(monkeypatch, "rome_edit")
    host = runtime.engine.host
    edit, edited = _in_thread(lambda: runtime.edits.edit(FRANCE))
    assert rome.started.wait(timeout=60)
    assert rome.calls[0]["model"] is not host.model  # the optimisation runs on a copy

    ids = runtime.chat.encode("the capital of france is", 8)
    chat, answered = _in_thread(lambda: list(runtime.chat.pieces(ids, SamplingParams(8, 0.0))))
    chat.join(timeout=30)
    assert not chat.is_alive() and "error" not in answered, "the chat waited for the edit's optimisation"
    assert answered["value"][-1].completion_tokens == 8
    assert edit.is_alive()

    rome.release.set()
    edit.join(timeout=60)
    assert edited["value"].entry.status == "applied"
    assert runtime.engine.applied() == [edited["value"].entry.id]


def test_an_edit_whose_snapshot_went_stale_is_refused(runtime, monkeypatch):
    engine = runtime.engine
    landed = []

    def another_change() -> None:
        delta = synthetic_delta(engine.host.model, [OTHER], seed=1)
        landed.append(engine.apply_delta("skill", "another change", {}, delta))

    rome = Paused(monkeypatch, "rome_edit", meanwhile=another_change)
    rome.release.set()
    with pytest.raises(ConflictError, match="send it again"):
        runtime.edits.edit(FRANCE)
    assert engine.applied() == [landed[0].id]
    assert [e.id for e in engine.history.list()] == [landed[0].id]  # the refused edit left no entry
    assert not list((engine.settings.home / "edits" / "keys").glob("*"))

    monkeypatch.setattr(edits_module, "rome_edit", rome.real)
    again = runtime.edits.edit(FRANCE)  # sent again, on the new weights: applied
    assert engine.applied() == [landed[0].id, again.entry.id]


def test_racing_single_and_batch_edits_run_one_after_the_other(runtime, monkeypatch):
    rome = Paused(monkeypatch, "rome_edit")
    memit = Paused(monkeypatch, "memit_edit")
    memit.release.set()
    single, single_out = _in_thread(lambda: runtime.edits.edit(FRANCE))
    assert rome.started.wait(timeout=60)
    batch, batch_out = _in_thread(lambda: runtime.edits.batch([ITALY]))
    assert not memit.started.wait(timeout=1)  # the batch waits for the single edit, keys included

    rome.release.set()
    single.join(timeout=60)
    batch.join(timeout=60)
    first, second = single_out["value"].entry, batch_out["value"].entry
    assert runtime.engine.applied() == [first.id, second.id]
    previous = memit.calls[0]["args"][-1]  # the earlier edits' key Gram matrices the batch protects
    keys = runtime.edits.keys.load(first.id)
    assert keys and set(previous) == set(keys)
    for layer, k in keys.items():
        assert torch.allclose(previous[layer], k.double() @ k.double().T)
