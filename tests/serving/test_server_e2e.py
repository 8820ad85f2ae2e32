"""The real server on the real default model, driven by the official ``openai`` client."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.helpers.server import serve_in_subprocess


@pytest.fixture(scope="module")
def server(default_model_dir, tmp_path_factory) -> str:
    with serve_in_subprocess(tmp_path_factory.mktemp("e2e") / "home") as url:
        yield url


@pytest.mark.slow
def test_chat_completion_answers_with_paris(server):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused")
    reply = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0, max_tokens=30,
    )
    assert "Paris" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason in {"stop", "length"}
    assert reply.usage.prompt_tokens > 5 and 0 < reply.usage.completion_tokens <= 30


@pytest.mark.slow
def test_streamed_chat_completion_matches_the_plain_one(server):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused")
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    plain = client.chat.completions.create(model="m", messages=messages, temperature=0, max_tokens=24)
    stream = client.chat.completions.create(
        model="m", messages=messages, temperature=0, max_tokens=24, stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(text) == plain.choices[0].message.content
    assert finish == plain.choices[0].finish_reason
    assert usage.completion_tokens == plain.usage.completion_tokens


@pytest.mark.slow
def test_completion_honours_max_tokens_and_stop(server):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused")
    free = client.completions.create(model="m", prompt="1, 2, 3, 4,", max_tokens=12, temperature=0)
    assert free.usage.completion_tokens <= 12 and "5" in free.choices[0].text
    stopped = client.completions.create(model="m", prompt="1, 2, 3, 4,", max_tokens=12, temperature=0, stop=["6"])
    assert "6" not in stopped.choices[0].text and stopped.choices[0].finish_reason == "stop"
    assert free.choices[0].text.startswith(stopped.choices[0].text)


@pytest.mark.slow
def test_history_state_and_bad_input(server):
    state = httpx.get(server + "/v1/state").json()
    assert state["applied"] == [] and state["fingerprint"] == state["base_fingerprint"]
    assert httpx.get(server + "/v1/history").json()["data"] == []
    assert httpx.get(server + "/v1/models").json()["data"][0]["object"] == "model"

    missing = httpx.post(server + "/v1/history/edit-000000000000/revert")
    assert missing.status_code == 404 and "edit-000000000000" in missing.json()["error"]["message"]
    assert httpx.get(server + "/v1/history/nope").status_code == 404

    broken = httpx.post(server + "/v1/chat/completions", content=b"{not json",
                        headers={"content-type": "application/json"})
    assert broken.status_code in {400, 422} and broken.json()["error"]["message"]
    for body in ({}, {"messages": []}, {"messages": [{"role": "wizard", "content": "hi"}]},
                 {"messages": [{"role": "user", "content": "hi"}], "temperature": 5},
                 {"messages": [{"role": "user", "content": "hi"}], "n": 3},
                 {"prompt": "x", "max_tokens": 0}):
        path = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
        response = httpx.post(server + path, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["type"] == "invalid_request_error"
    too_long = httpx.post(server + "/v1/completions", json={"prompt": "word " * 9000, "max_tokens": 4})
    assert too_long.status_code == 400 and "context" in too_long.json()["error"]["message"]
    assert httpx.get(server + "/v1/state").json() == state


def test_api_key_guards_v1_but_not_health(start_server, tiny_model_dir, tmp_path):
    url = start_server(tmp_path / "keyed", PALIMPSEST_API_KEY="s3cret", PALIMPSEST_MODEL=str(tiny_model_dir))
    assert httpx.get(url + "/healthz").status_code == 200
    assert httpx.get(url + "/v1/state").status_code == 401
    assert httpx.get(url + "/v1/state", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url + "/v1/state", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    client = openai.OpenAI(base_url=url + "/v1", api_key="s3cret")
    assert client.models.list().data[0].id == str(tiny_model_dir)
