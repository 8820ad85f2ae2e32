"""Merging strategies: the coefficients, and through the engine a revert of any skill, earlier ones
included, leaves bit for bit the weights of a history in which it was never applied."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
from fastapi.testclient import TestClient

from adapters.merge import MergeSpec, merge_coefficients
from serving.core.history import LowRank
from serving.http.app import create_app
from serving.services import Runtime
from tests.helpers.engine import assert_bit_identical, engine_on, snapshot
from tests.helpers.jobs import wait_for_job
from tests.helpers.models import tiny_llama, tiny_tokenizer
from tests.helpers.skills import reverse_examples

NAMES = ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"]
SPECS = {
    "sequential": MergeSpec("sequential", alpha=0.5),
    "parallel": MergeSpec("parallel"),
    "ema": MergeSpec("ema", ema_lambda=0.7),
}


def test_coefficients_of_each_strategy():
    assert merge_coefficients([SPECS["sequential"]] * 3) == [0.5, 0.5, 0.5]
    assert merge_coefficients([SPECS["parallel"]] * 4) == [0.25] * 4
    ema = merge_coefficients([SPECS["ema"]] * 3)
    assert ema == pytest.approx([0.49, 0.21, 0.3])
    assert sum(ema) == pytest.approx(1.0)  # an EMA is a convex combination
    mixed = merge_coefficients([SPECS["parallel"], SPECS["sequential"], SPECS["parallel"], SPECS["ema"]])
    assert mixed == [0.5, 0.5, 0.5, 1.0]  # each strategy combines its own skills
    with pytest.raises(ValueError, match="strategy"):
        MergeSpec("mean")


def _task_vector(model: torch.nn.Module, seed: int) -> dict[str, LowRank]:
    """A seeded rank-2 task vector on NAMES."""
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(seed)
    return {n: LowRank(torch.randn(params[n].shape[0], 2, generator=g) * 0.05,
                       torch.randn(2, params[n].shape[1], generator=g)) for n in NAMES}


def _apply(runtime: Runtime, name: str, tau: dict[str, LowRank], spec: MergeSpec) -> str:
    details = {"name": name, "merge": asdict(spec)}
    return runtime.engine.apply_delta("skill", name, details, tau).id


@pytest.mark.parametrize("strategy", ["sequential", "parallel", "ema"])
def test_revert_of_an_earlier_skill_is_as_if_never_applied(strategy, tmp_path):
    spec = SPECS[strategy]
    model = tiny_llama()
    taus = [_task_vector(model, seed) for seed in range(3)]
    base = snapshot(model)

    full = Runtime(engine_on(model, tiny_tokenizer(), tmp_path / "full"))
    ids = [_apply(full, f"s{i}", tau, spec) for i, tau in enumerate(taus)]
    weights = dict(full.engine.host.model.named_parameters())
    c = merge_coefficients([spec] * 3)
    for name in NAMES:
        expected = base[name] + sum(ci * tau[name].dense() for ci, tau in zip(c, taus))
        torch.testing.assert_close(weights[name].detach(), expected, rtol=0, atol=1e-6)

    full.engine.revert(ids[1])  # an earlier skill: under parallel and ema the others' coefficients change
    reverted = snapshot(full.engine.host.model)
    never = Runtime(engine_on(tiny_llama(), tiny_tokenizer(), tmp_path / "never"))
    _apply(never, "s0", taus[0], spec)
    _apply(never, "s2", taus[2], spec)
    assert_bit_identical(never_state := snapshot(never.engine.host.model), reverted)

    restarted = Runtime(engine_on(tiny_llama(), tiny_tokenizer(), tmp_path / "full"))  # rebuilt from the history
    assert_bit_identical(never_state, snapshot(restarted.engine.host.model))
    for entry_id in (ids[0], ids[2]):
        restarted.engine.revert(entry_id)
    assert_bit_identical(base, snapshot(restarted.engine.host.model))


def test_parallel_skill_changes_the_weight_of_the_ones_before(tmp_path):
    model = tiny_llama()
    runtime = Runtime(engine_on(model, tiny_tokenizer(), tmp_path))
    first = _apply(runtime, "a", _task_vector(model, 0), SPECS["parallel"])
    alone = snapshot(runtime.engine.host.model)
    second = _apply(runtime, "b", _task_vector(model, 1), SPECS["parallel"])
    assert runtime.engine.coefficients() == {first: 0.5, second: 0.5}
    runtime.engine.revert(second)
    assert_bit_identical(alone, snapshot(runtime.engine.host.model))
    assert runtime.engine.coefficients() == {first: 1.0}


def test_skills_learned_with_parallel_merging_revert_exactly(skill_llama, tmp_path):
    engine = engine_on(skill_llama, tiny_tokenizer(), tmp_path)
    base = snapshot(engine.host.model)
    rows = [{"input": ex.input, "output": ex.output} for ex in reverse_examples(8)]
    training = {"lr": 1e-2, "epochs": 1, "min_steps": 0, "dropout": 0.0, "merge": "parallel"}
    with TestClient(create_app(runtime=Runtime(engine))) as client:
        jobs = [wait_for_job(client, client.post("/v1/skills", json={
            "name": name, "instruction": "to", "examples": rows, "training": training}).json()["job"]) for name in "ab"]
        first, second = (job["entry"] for job in jobs)
        assert second["details"]["merge"] == {"strategy": "parallel", "alpha": 1.0, "ema_lambda": 0.5}
        assert engine.coefficients() == {first["id"]: 0.5, second["id"]: 0.5}
        assert client.post(f"/v1/history/{first['id']}/revert").status_code == 200
        tau = engine.history.delta(second["id"])  # the raw task vector, now with coefficient 1
        weights = dict(engine.host.model.named_parameters())
        for name, d in tau.items():
            torch.testing.assert_close(weights[name].detach(), base[name] + d, rtol=0, atol=1e-6)
        assert client.post(f"/v1/history/{second['id']}/revert").status_code == 200
    assert_bit_identical(base, snapshot(engine.host.model))
