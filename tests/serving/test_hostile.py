"""Hostile requests against the real app on the tiny Llama: each one answers a 4xx (or a 500 for a
bug) in the ``{"error": {"message", "type"}}`` shape, and none of them changes any state."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from fastapi.testclient import TestClient

from serving.core.engine import Engine
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.http.app import create_app
from serving.services import Runtime
from tests.helpers.models import tiny_llama, tiny_tokenizer

KEY = "s3cret"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMITS = dict(max_body_bytes=20_000, max_tokens=8, max_documents=2, max_facts=3, skill_max_examples=4)


@pytest.fixture
def runtime(tmp_path):
    host = ModelHost(tiny_llama(max_position_embeddings=1024), tiny_tokenizer(), "tiny", torch.device("cpu"))
    settings = Settings(home=tmp_path / "home", guard=False, memory_extractor="rule", edit_covariance="identity",
                        edit_chat_context=False, api_key=KEY, **LIMITS)
    rt = Runtime(Engine(settings, host))
    yield rt
    rt.close()


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime=runtime), headers=AUTH, raise_server_exceptions=False) as c:
        yield c


def state(rt: Runtime) -> tuple:
    """Everything a request could change: weights, history, memory, skills, exports."""
    exports = rt.settings.exports_dir
    return (rt.engine.host.fingerprint(), [e.model_dump() for e in rt.engine.history.list()],
            rt.memory.stats(), rt.skills.list(), sorted(str(p) for p in exports.rglob("*")) if exports.exists() else [])


def assert_error(response, status: int, kind: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if kind is not None:
        assert error["type"] == kind
    return error


def chat(**extra) -> dict:
    return {"messages": [{"role": "user", "content": "the capital of france is"}], "max_tokens": 2,
            "temperature": 0, **extra}


FACT = {"subject": "paris", "relation": "is located in", "object": "rome"}

HOSTILE = [  # (method, path, json body, status)
    ("POST", "/v1/chat/completions", chat(seed=2**64), 422),
    ("POST", "/v1/chat/completions", chat(seed=-1), 422),
    ("POST", "/v1/completions", {"prompt": "the cat", "seed": 2**63}, 422),
    ("POST", "/v1/chat/completions", chat(temperature=1e-45), 400),
    ("POST", "/v1/completions", {"prompt": "the cat", "temperature": 5e-324}, 400),
    ("POST", "/v1/chat/completions", chat(top_p=5e-324, temperature=1), 422),
    ("POST", "/v1/chat/completions", chat(max_tokens=9), 422),
    ("POST", "/v1/chat/completions", chat(max_completion_tokens=10**9), 422),
    ("POST", "/v1/completions", {"prompt": "the cat", "max_tokens": 10**6}, 422),
    ("POST", "/v1/memory/documents", {"documents": [{"text": "the cat"}] * 3}, 413),
    ("POST", "/v1/memory/facts", {"facts": [FACT] * 4}, 413),
    ("POST", "/v1/skills", {"name": "big", "examples": [{"input": "a", "output": "b"}] * 5}, 413),
    ("POST", "/v1/updates", {"examples": [{"input": "a", "output": "b"}] * 5, "name": "big"}, 413),
    ("POST", "/v1/skills", {"name": "hot", "examples": [{"input": "a", "output": "b"}], "training": {"lr": 1e30}}, 400),
    ("POST", "/v1/export", {"name": "../escape"}, 400),
    ("POST", "/v1/export", {"name": "/tmp/escape"}, 400),
    ("POST", "/v1/export", {"name": "a\u0000b"}, 400),
    ("POST", "/v1/export", {"path": "/etc/palimpsest"}, 400),
    ("POST", "/v1/export", {"path": "relative"}, 400),
    ("POST", "/v1/export", {}, 422),
    ("POST", "/v1/export", {"name": "x", "path": "/x"}, 422),
    ("GET", "/v1/jobs/job-unknown", None, 404),
    ("DELETE", "/v1/jobs/job-unknown", None, 404),
    ("POST", "/v1/history/edit-unknown/revert", None, 404),
    ("GET", "/v1/nope", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), HOSTILE, ids=[f"{m} {p} {s}" for m, p, _, s in HOSTILE])
def test_hostile_bodies_answer_4xx_and_change_nothing(runtime, client, method, path, body, status):
    before = state(runtime)
    assert_error(client.request(method, path, json=body), status)
    assert state(runtime) == before


def test_lone_surrogates_are_refused_and_pairs_accepted(runtime, client):
    before = state(runtime)
    for text in ('"the cat \\ud800"', '"\\udc00 the cat"', '"\\ud83d"'):
        raw = f'{{"facts": [{{"subject": {text}, "relation": "is", "object": "a cat"}}]}}'
        error = assert_error(client.post("/v1/memory/facts", content=raw, headers={"content-type": "application/json"}), 400)
        assert "surrogate" in error["message"]
    raw_bytes = b'{"messages": [{"role": "user", "content": "the cat \xed\xa0\x80"}]}'
    assert_error(client.post("/v1/chat/completions", content=raw_bytes, headers={"content-type": "application/json"}), 400)
    assert state(runtime) == before

    pair = '{"facts": [{"subject": "the \\ud83d\\ude00 cat", "relation": "is", "object": "a cat"}]}'
    response = client.post("/v1/memory/facts", content=pair, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    escaped = json.dumps({"messages": [{"role": "user", "content": "the \\ud800 cat"}], "max_tokens": 1})
    assert client.post("/v1/chat/completions", content=escaped, headers={"content-type": "application/json"}).status_code == 200


def test_api_key_checks_come_before_the_body(runtime, client):
    before = state(runtime)
    for value in ("", "Bearer wrong", "Basic s3cret", "Bearer clé".encode(), b"Bearer \xff\xfe"):
        response = client.post("/v1/memory/facts", content=b"{not json", headers={"Authorization": value})
        assert_error(response, 401, "authentication_error")
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200
    assert state(runtime) == before


def test_bodies_over_the_limit_are_refused_before_parsing(runtime, client):
    before = state(runtime)
    big = b'{"facts": [' + b"x" * 30_000 + b"]}"
    error = assert_error(client.post("/v1/memory/facts", content=big, headers={"content-type": "application/json"}), 413)
    assert "PALIMPSEST_MAX_BODY_BYTES" in error["message"]

    def chunks():  # no Content-Length: the bytes are counted as they arrive
        for _ in range(30):
            yield b"x" * 1000

    assert_error(client.post("/v1/memory/facts", content=chunks(), headers={"content-type": "application/json"}), 413)
    assert_error(client.post("/v1/memory/facts", content=b"{}", headers={"content-length": "many"}), 400)
    assert state(runtime) == before


def test_only_allowed_hosts_are_served(runtime, client):
    before = state(runtime)
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io", ""):
        assert_error(client.get("/v1/state", headers={"host": host}), 400)
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "testserver"):
        assert client.get("/v1/state", headers={"host": host}).status_code == 200
    assert state(runtime) == before

    anywhere = runtime.settings.model_copy(update={"allowed_hosts": "*"})
    with TestClient(create_app(anywhere, runtime), headers=AUTH) as open_client:
        assert open_client.get("/v1/state", headers={"host": "evil.example"}).status_code == 200


def test_wrong_method_answers_405_with_allow(client):
    response = client.get("/v1/edits")
    assert_error(response, 405)
    assert response.headers["allow"] == "POST"


def test_export_refuses_a_folder_that_is_not_empty(runtime, client):
    taken = runtime.settings.exports_dir / "taken"
    taken.mkdir(parents=True)
    (taken / "file").write_text("x")
    before = state(runtime)
    assert_error(client.post("/v1/export", json={"name": "taken"}), 409, "conflict_error")
    assert state(runtime) == before


def test_an_unexpected_exception_answers_500_with_a_logged_request_id(runtime, client, monkeypatch, caplog):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runtime.memory, "stats", bug)
    with caplog.at_level(logging.ERROR, logger="palimpsest.http"):
        error = assert_error(client.get("/v1/memory/stats"), 500, "server_error")
    assert error["request_id"] in error["message"] and error["request_id"] in caplog.text


def test_openapi_lists_the_errors(client):
    spec = client.get("/openapi.json").json()
    error_ref = "#/components/schemas/ErrorResponse"

    def responses(path: str, method: str) -> dict:
        return spec["paths"][path][method]["responses"]

    for path, method, statuses in [
        ("/v1/edits", "post", {"400", "401", "409", "413", "422", "500"}),
        ("/v1/history/{entry_id}/revert", "post", {"404", "409"}),
        ("/v1/jobs/{job_id}", "delete", {"404", "409"}),
        ("/v1/export", "post", {"400", "409", "422"}),
        ("/v1/chat/completions", "post", {"400", "401", "413", "422"}),
    ]:
        found = responses(path, method)
        assert statuses <= found.keys(), (path, found.keys())
        for status in statuses:
            assert found[status]["content"]["application/json"]["schema"]["$ref"] == error_ref
    # OpenAPI 3.1: an event stream's schema describes one event (schemathesis checks each against it)
    event = responses("/v1/chat/completions", "post")["200"]["content"]["text/event-stream"]["schema"]
    assert event["type"] == "object" and event["properties"]["data"] == {"type": "string"}
