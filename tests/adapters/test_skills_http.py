"""The skills routes on an engine over the tiny Llama: a job learns, lists, refuses bad input,
duplicates and settings out of range, is cancelled, and revert removes the skill exactly."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from serving.http.app import create_app
from serving.services import Runtime
from tests.helpers.engine import assert_bit_identical, engine_on, snapshot
from tests.helpers.jobs import wait_for_job
from tests.helpers.models import tiny_tokenizer
from tests.helpers.skills import reverse_examples

SSR = {"n_prompts": 4, "samples_per_prompt": 1, "max_new_tokens": 12, "n_select": 2, "n_clusters": 2}
TRAINING = {"lr": 1e-2, "epochs": 2, "min_steps": 0, "dropout": 0.0}


def _body(name: str, **extra) -> dict:
    rows = [{"input": ex.input, "output": ex.output} for ex in reverse_examples(16)]
    return {"name": name, "instruction": "to", "examples": rows, "training": TRAINING, **extra}


@pytest.fixture
def served(skill_llama, tmp_path):
    engine = engine_on(skill_llama, tiny_tokenizer(), tmp_path)
    with TestClient(create_app(runtime=Runtime(engine))) as client:
        yield engine, client


def test_learn_list_duplicate_and_revert(served, tmp_path):
    engine, client = served
    base = snapshot(engine.host.model)
    response = client.post("/v1/skills", json=_body("reverse"))
    assert response.status_code == 202
    job = wait_for_job(client, response.json()["job"])
    assert job["status"] == "done", job
    entry = job["entry"]
    assert entry["kind"] == "skill" and entry["status"] == "applied"
    assert entry["details"]["loss_last"] < entry["details"]["loss_first"]
    assert entry["details"]["trp"] == 0.0
    assert (tmp_path / "skills" / "adapters" / "reverse" / "adapter_config.json").exists()
    skills = client.get("/v1/skills").json()["skills"]
    assert [(s["name"], s["entry_id"], s["rehearsal"]) for s in skills] == [("reverse", entry["id"], "real")]
    assert client.post("/v1/skills", json=_body("reverse")).status_code == 409

    second = wait_for_job(client, client.post("/v1/skills", json=_body("second", replay={"ratio": 0.5, "consolidation_steps": 0})).json()["job"])
    assert second["entry"]["details"]["replayed_skills"] == ["reverse"]
    assert second["entry"]["details"]["trp"] == pytest.approx(50.0)

    assert client.post(f"/v1/history/{second['entry']['id']}/revert").status_code == 200
    assert client.post(f"/v1/history/{entry['id']}/revert").status_code == 200
    assert_bit_identical(base, snapshot(engine.host.model))
    assert not (tmp_path / "skills" / "adapters" / "reverse").exists()
    assert client.get("/v1/skills").json()["skills"] == []
    again = wait_for_job(client, client.post("/v1/skills", json=_body("reverse")).json()["job"])
    assert again["status"] == "done"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"name": "empty", "examples": []}, 400),
        ({"name": "blank", "examples": [{"input": "cat", "output": " "}]}, 400),
        ({"name": "no-output", "examples": [{"input": "cat"}]}, 400),
        ({"name": "bad name!", "examples": [{"input": "cat", "output": "dog"}]}, 400),
        ({"name": "knob", "examples": [{"input": "cat", "output": "dog"}], "training": {"rank": 0}}, 400),
        ({"name": "knob", "examples": [{"input": "cat", "output": "dog"}], "training": {"nope": 1}}, 400),
        ({"name": "hot", "examples": [{"input": "cat", "output": "dog"}], "training": {"lr": 1e30}}, 400),
        ({"name": "long", "examples": [{"input": "cat", "output": "dog"}], "training": {"min_steps": 10**9}}, 400),
        ({"name": "wide", "examples": [{"input": "cat", "output": "dog"}], "training": {"rank": 10**6}}, 400),
        ({"name": "ssr", "examples": [{"input": "cat", "output": "dog"}], "replay": {"ssr": {"n_prompts": 10**6}}}, 400),
        ({"name": "many", "examples": [{"input": "cat", "output": "dog"}] * 5001}, 413),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(served, tmp_path, body, status):
    engine, client = served
    response = client.post("/v1/skills", json=body)
    assert response.status_code == status
    assert "message" in response.json()["error"]
    assert engine.history.list() == []
    assert client.get("/v1/skills").json()["skills"] == []
    assert not (tmp_path / "skills" / "adapters").exists()


def test_without_keep_data_only_demos_and_synthetic_rehearsal_are_kept(served, tmp_path):
    engine, client = served
    job = wait_for_job(client, client.post("/v1/skills", json=_body("private", replay={"keep_data": False, "ssr": SSR})).json()["job"])
    assert job["status"] == "done", job
    ssr = job["entry"]["details"]["ssr"]
    assert ssr["generated"] > 0 and ssr["kept"] <= ssr["parsed"]
    [skill] = client.get("/v1/skills").json()["skills"]
    assert skill["keep_data"] is False and skill["rehearsal"] in ("synthetic", "demos")
    record = __import__("json").loads((tmp_path / "skills" / "rehearsal" / "private.json").read_text())
    assert record["samples"] == [] and 0 < len(record["demos"]) <= 20


def test_a_queued_and_a_running_skill_are_cancelled_and_leave_nothing(served, tmp_path):
    engine, client = served
    slow = {**TRAINING, "epochs": 1, "min_steps": 4000}
    running = client.post("/v1/skills", json=_body("slow", training=slow)).json()["job"]
    queued = client.post("/v1/skills", json=_body("later")).json()["job"]
    cancelled = client.delete(f"/v1/jobs/{queued['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    while (now := client.get(f"/v1/jobs/{running['id']}").json())["progress"] == 0.0:
        assert now["status"] in ("queued", "running"), now
        time.sleep(0.01)
    assert client.delete(f"/v1/jobs/{running['id']}").json()["message"] == "cancelling"
    job = wait_for_job(client, running)
    assert (job["status"], job["error"], job["entry"]) == ("cancelled", "cancelled", None)
    assert client.delete(f"/v1/jobs/{running['id']}").status_code == 409
    assert client.delete("/v1/jobs/job-unknown").status_code == 404
    assert engine.history.list() == [] and client.get("/v1/skills").json()["skills"] == []
    assert not (tmp_path / "skills" / "adapters" / "slow").exists()
    again = wait_for_job(client, client.post("/v1/skills", json=_body("later")).json()["job"])
    assert again["status"] == "done", again
