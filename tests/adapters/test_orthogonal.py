"""O-LoRA's penalty: a second skill's LoRA A ends up further out of the first skill's subspace than
plain LoRA's, on the tiny Llama; the server records the overlap."""

from __future__ import annotations

import torch
from fastapi.testclient import TestClient

from adapters import Skill, SkillConfig, train_skill
from adapters.orthogonal import mean_overlap, past_subspaces, subspace_overlap
from serving.http.app import create_app
from serving.services import Runtime
from tests.helpers.engine import engine_on
from tests.helpers.jobs import wait_for_job
from tests.helpers.models import tiny_tokenizer
from tests.helpers.skills import reverse_examples

FAST = dict(lr=1e-2, batch_size=8, dropout=0.0, epochs=4, targets=("q_proj", "v_proj"))


def test_overlap_measure():
    past = torch.eye(4, 8)[:2]  # the first two axes
    assert subspace_overlap(past, torch.eye(4, 8)[2:]) == 0.0
    assert abs(subspace_overlap(past, torch.eye(4, 8)[:1] * 3) - 1.0) < 1e-12


def test_penalty_reduces_the_overlap_with_the_earlier_skill(skill_llama, reverse_skill):
    tok = tiny_tokenizer()
    first = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**FAST))
    past = past_subspaces([first.factors])
    second = Skill("second", reverse_examples(32, seed=5), instruction="of")
    # the same seed starts both skills from the same A: plain LoRA keeps most of that overlap
    plain = train_skill(skill_llama, tok, second, SkillConfig(**FAST), orthogonal_to=past)
    olora = train_skill(skill_llama, tok, second, SkillConfig(**FAST, orthogonal_lambda=0.1), orthogonal_to=past)
    plain_overlap, olora_overlap = mean_overlap(past, plain.factors), mean_overlap(past, olora.factors)
    assert plain_overlap > 0.5
    assert olora_overlap < 0.25 * plain_overlap, (plain_overlap, olora_overlap)
    assert sum(olora.losses[-3:]) < sum(olora.losses[:3])  # it still learns (more slowly here: 8 of 32 input dims are taken)


def test_server_trains_orthogonal_to_the_applied_skills(skill_llama, tmp_path):
    engine = engine_on(skill_llama, tiny_tokenizer(), tmp_path)
    rows = [{"input": ex.input, "output": ex.output} for ex in reverse_examples(8)]
    training = {"lr": 1e-2, "epochs": 1, "min_steps": 0, "dropout": 0.0, "orthogonal_lambda": 0.1}
    with TestClient(create_app(runtime=Runtime(engine))) as client:
        entries = [wait_for_job(client, client.post("/v1/skills", json={
            "name": name, "instruction": "to", "examples": rows, "training": training}).json()["job"])["entry"]
            for name in "ab"]
    assert entries[0]["details"]["overlap"] is None  # nothing to be orthogonal to
    assert 0.0 <= entries[1]["details"]["overlap"] < 0.5  # same seed: plain LoRA starts from the same A
