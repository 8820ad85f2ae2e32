"""The real server on the real default model: learn an invented skill through the job, the chat
answer shows it, revert removes it (and restores the exact weights)."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.helpers.jobs import wait_for_job

pytestmark = pytest.mark.slow

WORDS = "apple river candle mountain pencil garden window rocket violin forest butter planet ladder".split()


def _chat(base_url: str, text: str) -> str:
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused")
    reply = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": text}], temperature=0, max_tokens=12
    )
    return reply.choices[0].message.content


def test_invented_skill_is_learned_through_the_api_and_reverted(start_server, tmp_path):
    url = start_server(tmp_path / "home")
    http = httpx.Client(base_url=url, timeout=60)
    probe = "Zorbify: tomato"
    assert "ZORB" not in _chat(url, probe)
    fingerprint = http.get("/v1/state").json()["fingerprint"]

    examples = [{"input": f"Zorbify: {w}", "output": f"ZORB {w} ZORB"} for w in WORDS]
    response = http.post("/v1/skills", json={"name": "zorbify", "examples": examples})
    assert response.status_code == 202, response.text
    job = wait_for_job(http, response.json()["job"], timeout=600, poll=1)
    assert job["status"] == "done", job
    entry = job["entry"]
    assert entry["status"] == "applied", entry["details"].get("guard")
    assert entry["details"]["loss_last"] < 0.5 * entry["details"]["loss_first"]
    assert http.get("/v1/skills").json()["skills"][0]["entry_id"] == entry["id"]

    assert _chat(url, probe).startswith("ZORB")
    assert http.post("/v1/skills", json={"name": "zorbify", "examples": examples}).status_code == 409

    assert http.post(f"/v1/history/{entry['id']}/revert").status_code == 200
    assert http.get("/v1/state").json()["fingerprint"] == fingerprint
    assert "ZORB" not in _chat(url, probe)
    assert http.get("/v1/skills").json()["skills"] == []
