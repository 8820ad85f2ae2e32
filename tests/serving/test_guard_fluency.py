"""The guard's fluency checks on the tiny Llama: a change that makes generations repeat one token
is reverted with the reason in the entry, a harmless one is kept, and the scores of unchanged
weights are reused."""

from __future__ import annotations

import math

import pytest
import torch

from serving.core.engine import Engine
from serving.core.errors import RegressionGuardError
from serving.core.guard import GuardConfig, RegressionGuard
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from tests.helpers.engine import synthetic_delta
from tests.helpers.models import tiny_llama, tiny_tokenizer

NORM = "model.norm.weight"


def engine(home, **settings) -> Engine:
    host = ModelHost(tiny_llama(initializer_range=1.0), tiny_tokenizer(), "tiny", torch.device("cpu"))
    return Engine(Settings(home=home, guard=True, memory_extractor="rule", **settings), host)


def test_a_change_that_breaks_fluency_is_reverted_with_the_reason(tmp_path):
    # The probe groups' threshold is out of the way: only the fluency check can revert.
    eng = engine(tmp_path, guard_threshold=0.99, guard_perplexity_rise=1e6)
    kept = eng.apply_delta("edit", "small", {}, synthetic_delta(eng.host.model, [NORM], seed=1, scale=1e-4))
    guard = kept.details["guard"]
    assert not guard["reverted"] and guard["before"]["entropy"] > 0
    assert abs(guard["fluency"]["entropy_drop"]) < 0.10
    fingerprint = eng.host.fingerprint()
    weight = eng.host.model.get_parameter(NORM).detach().clone()
    with pytest.raises(RegressionGuardError) as caught:
        eng.apply_delta("edit", "silence", {}, {NORM: -weight})  # every logit 0: one token forever
    entry = eng.history.get(caught.value.entry["id"])
    assert entry.status == "reverted"
    assert "n-gram entropy" in entry.details["guard"]["reason"]
    assert entry.details["guard"]["fluency"]["entropy_drop"] == pytest.approx(1.0)
    assert eng.host.fingerprint() == fingerprint


def test_a_perplexity_rise_past_the_threshold_is_reverted(tmp_path):
    eng = engine(tmp_path, guard_threshold=0.99, guard_entropy_drop=0.99, guard_perplexity_rise=0.01)
    weight = eng.host.model.get_parameter(NORM).detach().clone()
    with pytest.raises(RegressionGuardError) as caught:
        eng.apply_delta("edit", "blur", {}, {NORM: 0.2 * weight})  # sharper wrong guesses
    reason = eng.history.get(caught.value.entry["id"]).details["guard"]["reason"]
    assert "perplexity" in reason


def test_scores_of_unchanged_weights_are_reused_and_fluency_can_be_off():
    model, tok = tiny_llama(initializer_range=1.0), tiny_tokenizer()
    guard = RegressionGuard(GuardConfig())
    probes = guard.probes([])
    first, _ = guard.score(model, tok, probes)
    assert set(first) == {"general", "entropy", "perplexity"}
    calls = []
    real = guard._fluency.score
    guard._fluency.score = lambda *a: calls.append(1) or real(*a)
    again, _ = guard.score(model, tok, probes)
    assert again == first and not calls  # same weights: nothing recomputed
    with torch.no_grad():
        model.get_parameter(NORM).mul_(1.5)
    moved, _ = guard.score(model, tok, probes)
    assert calls and moved["perplexity"] != first["perplexity"]
    off, _ = RegressionGuard(GuardConfig(fluency=False)).score(model, tok, probes)
    assert set(off) == {"general"}
    verdict = guard.judge(first, {**first, "perplexity": math.nan}, 0.1, probes)
    assert verdict.reverted and "non-finite" in verdict.reason
