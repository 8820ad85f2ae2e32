"""The regression guard's verdict is durable and strict, on the tiny Llama: an entry is pending until
the verdict, a crash before it reverts the entry at start-up, non-finite scores fail, and a
rejected change raises ``RegressionGuardError`` after its revert is recorded."""

from __future__ import annotations

import json
import math

import pytest
import torch
from fastapi.testclient import TestClient

from serving.core.engine import Engine
from serving.core.errors import RegressionGuardError
from serving.core.guard import GuardConfig, RegressionGuard
from serving.core.history import History
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.http.app import create_app
from serving.services import Runtime
from tests.helpers.engine import synthetic_delta
from tests.helpers.models import tiny_llama, tiny_tokenizer

MLP = "model.layers.1.mlp.down_proj.weight"


def guarded_engine(home, model=None) -> Engine:
    host = ModelHost(model or tiny_llama(max_position_embeddings=1024), tiny_tokenizer(), "tiny", torch.device("cpu"))
    return Engine(Settings(home=home, guard=True, memory_extractor="rule", edit_covariance="identity",
                           edit_chat_context=False), host)


def nan_delta(engine: Engine) -> dict[str, torch.Tensor]:
    return {MLP: torch.full(tuple(engine.host.model.get_parameter(MLP).shape), math.nan)}


def test_non_finite_scores_fail_and_serialise_as_null():
    guard = RegressionGuard(GuardConfig())
    probes = {"general": [("a", "b")], "edits": [("c", "d")]}
    verdict = guard.judge({"general": 0.5, "edits": 0.4}, {"general": 0.5, "edits": math.nan}, 0.1, probes)
    assert verdict.reverted and "non-finite" in verdict.reason and "'edits'" in verdict.reason
    details = verdict.as_details()
    assert details["after"]["edits"] is None and details["drops"]["edits"] is None
    json.dumps(details, allow_nan=False)
    assert not guard.judge({"general": 0.5}, {"general": 0.49}, 0.1, {"general": [("a", "b")]}).reverted


def test_a_nan_delta_is_reverted_and_raises_after_the_revert_is_recorded(tmp_path):
    engine = guarded_engine(tmp_path)
    base = engine.host.fingerprint()
    with pytest.raises(RegressionGuardError) as caught:
        engine.apply_delta("skill", "lr 1e30", {"loss_last": math.nan}, nan_delta(engine))
    error = caught.value
    entry = engine.history.get(error.entry["id"])
    assert entry.status == error.entry["status"] == "reverted"
    assert entry.details["guard"]["reverted"] and entry.details["loss_last"] is None
    assert error.details()["scores"]["reverted"] and "non-finite" in error.details()["reason"]
    assert engine.host.fingerprint() == base and engine.applied() == []


def test_an_entry_is_pending_until_its_verdict_and_on_recorded_runs_meanwhile(tmp_path):
    engine = guarded_engine(tmp_path)
    seen = []
    entry = engine.apply_delta("edit", "small", {}, synthetic_delta(engine.host.model, [MLP], 1, scale=1e-4),
                               on_recorded=lambda e: seen.append((e.status, engine.history.get(e.id).status)))
    assert seen == [("pending", "pending")]
    assert entry.status == "applied" and not entry.details["guard"]["reverted"]
    assert engine.applied() == [entry.id]


def test_a_failing_on_recorded_reverts_the_entry(tmp_path):
    engine = guarded_engine(tmp_path)
    base = engine.host.fingerprint()

    def fail(_entry):
        raise OSError("disk full")

    with pytest.raises(OSError):
        engine.apply_delta("edit", "keys fail", {}, synthetic_delta(engine.host.model, [MLP], 1), on_recorded=fail)
    [entry] = engine.history.list()
    assert entry.status == "reverted" and "disk full" in entry.details["error"]
    assert engine.host.fingerprint() == base


def test_a_pending_entry_is_reverted_at_start_up(tmp_path):
    model = tiny_llama(max_position_embeddings=1024)
    base = ModelHost(model, tiny_tokenizer(), "tiny", torch.device("cpu")).fingerprint()
    history = History(tmp_path)
    pending = history.add("edit", "crashed before its verdict", {}, synthetic_delta(model, [MLP], 3), status="pending")
    history.close()

    engine = guarded_engine(tmp_path, model)
    entry = engine.history.get(pending.id)
    assert entry.status == "reverted" and "interrupted" in entry.details["guard"]["reason"]
    assert engine.host.fingerprint() == base and engine.applied() == []


@pytest.fixture
def served(tmp_path):
    runtime = Runtime(guarded_engine(tmp_path))
    with TestClient(create_app(runtime=runtime)) as client:
        yield runtime, client
    runtime.close()


def test_a_rejected_edit_answers_422_and_a_routed_one_falls_back_to_the_memory(served, monkeypatch):
    runtime, client = served
    engine = runtime.engine
    base = engine.host.fingerprint()

    def destructive_edit(request, layer=None, extra=None):
        engine.apply_delta("edit", "destructive", {**(extra or {})}, nan_delta(engine))

    monkeypatch.setattr(runtime.edits, "edit", destructive_edit)
    body = {"prompt": "the capital of france is", "subject": "france", "target_new": "rome"}
    response = client.post("/v1/edits", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "regression_guard" and "non-finite" in error["reason"] == error["message"]
    assert error["entry"]["status"] == "reverted" and error["scores"]["reverted"]
    assert engine.host.fingerprint() == base

    response = client.post("/v1/updates", json={"fact": {"subject": "paris", "relation": "is located in",
                                                         "object": "rome"}, "route": "edit"})
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["route"] == "memory" and "regression guard" in out["reason"]
    assert out["entry"]["kind"] == "memory" and out["entry"]["status"] == "applied"
    assert engine.history.get(out["entry"]["details"]["edit_reverted_by_guard"]).status == "reverted"
    assert [h.object for h in runtime.memory.search_facts("where is paris located", 3)] == ["rome"]
    assert engine.host.fingerprint() == base
