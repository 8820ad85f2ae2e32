"""A user's journey on the real default model: a fact, a newer fact that replaces it, the chat
answer following each, and a revert bringing the older one back (invented people and companies)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def _answer(http: httpx.Client, question: str) -> dict:
    body = {"messages": [{"role": "user", "content": question}], "temperature": 0, "max_tokens": 32}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_changed_employer_shows_in_the_answer_and_revert_brings_the_old_one_back(start_server, tmp_path):
    http = httpx.Client(base_url=start_server(tmp_path / "home", PALIMPSEST_MEMORY_EXTRACTOR="rule"), timeout=300)
    base = http.get("/v1/state").json()["base_fingerprint"]
    first = http.post("/v1/updates", json={"text": "Ilse Varga works for Ostrander Mills."})
    assert first.status_code == 201, first.text
    second = http.post("/v1/updates", json={"text": "Ilse Varga works for Kettle & Finch."})
    assert second.status_code == 201, second.text
    assert second.json()["route"] == "memory"  # the model does not know Ilse Varga

    answer = _answer(http, "Who does Ilse Varga work for?")
    text = answer["choices"][0]["message"]["content"]
    assert "Kettle & Finch" in text and "Ostrander" not in text, text
    assert answer["palimpsest"]["grounded"]

    unrelated = _answer(http, "What is the capital of France?")
    assert not unrelated["palimpsest"]["grounded"]

    assert http.post(f"/v1/history/{second.json()['entry']['id']}/revert").status_code == 200
    text = _answer(http, "Who does Ilse Varga work for?")["choices"][0]["message"]["content"]
    assert "Ostrander Mills" in text and "Kettle" not in text, text

    assert http.post(f"/v1/history/{first.json()['entry']['id']}/revert").status_code == 200
    assert http.get("/v1/state").json()["fingerprint"] == base
    assert http.get("/v1/memory/stats").json()["facts_current"] == 0
