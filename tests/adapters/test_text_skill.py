"""A domain skill from raw text: passages learned with the language-modelling loss (earlier skills
replayed), its LM loss on the text falls, and a revert restores the weights bit for bit."""

from __future__ import annotations

import torch
from fastapi.testclient import TestClient

from adapters.data import encode_text, text_examples
from serving.http.app import create_app
from serving.services import Runtime
from tests.helpers.engine import assert_bit_identical, engine_on, snapshot
from tests.helpers.jobs import wait_for_job
from tests.helpers.models import tiny_tokenizer
from tests.helpers.skills import reverse_examples

TEXT = " ".join(["paris is the capital of france and rome is the capital of italy"] * 12)
TRAINING = {"lr": 1e-2, "epochs": 4, "min_steps": 0, "dropout": 0.0, "max_length": 16, "batch_size": 4}


def _lm_loss(model: torch.nn.Module, tokenizer, text: str) -> float:
    ids = torch.tensor([encode_text(tokenizer, text_examples(tokenizer, text, 64)[0], 64).input_ids])
    with torch.no_grad():
        return float(model(input_ids=ids, labels=ids).loss)


def test_passages_are_blocks_of_tokens_with_every_token_a_label():
    tok = tiny_tokenizer()
    passages = text_examples(tok, TEXT, 16)
    assert len(passages) == -(-len(TEXT.split()) // 16) and all(p.input == "" for p in passages)
    encoded = encode_text(tok, passages[0], 16)
    assert len(encoded.input_ids) == 16 and encoded.labels == encoded.input_ids


def test_text_skill_lowers_its_lm_loss_replays_and_reverts(skill_llama, tmp_path):
    tok = tiny_tokenizer()
    engine = engine_on(skill_llama, tok, tmp_path)
    base, before = snapshot(engine.host.model), _lm_loss(engine.host.model, tok, TEXT)
    rows = [{"input": ex.input, "output": ex.output} for ex in reverse_examples(8)]
    with TestClient(create_app(runtime=Runtime(engine))) as client:
        earlier = wait_for_job(client, client.post("/v1/skills", json={
            "name": "reverse", "instruction": "to", "examples": rows,
            "training": {"lr": 1e-2, "epochs": 1, "dropout": 0.0}}).json()["job"])["entry"]
        after_earlier = snapshot(engine.host.model)
        job = wait_for_job(client, client.post("/v1/skills", json={
            "name": "geography", "text": TEXT, "replay": {"ratio": 0.5}, "training": TRAINING}).json()["job"])
        assert job["status"] == "done", job
        entry = job["entry"]
        assert entry["details"]["format"] == "text" and entry["details"]["replayed_skills"] == ["reverse"]
        assert entry["details"]["trp"] > 0
        assert _lm_loss(engine.host.model, tok, TEXT) < 0.8 * before
        listed = {s["name"]: s for s in client.get("/v1/skills").json()["skills"]}
        assert listed["geography"]["raw"] and listed["geography"]["rehearsal"] == "real"
        assert client.post("/v1/skills", json={"name": "both", "text": TEXT, "examples": rows}).status_code == 400
        assert client.post(f"/v1/history/{entry['id']}/revert").status_code == 200
        assert_bit_identical(after_earlier, snapshot(engine.host.model))
        assert client.post(f"/v1/history/{earlier['id']}/revert").status_code == 200
    assert_bit_identical(base, snapshot(engine.host.model))
