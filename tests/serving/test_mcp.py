"""``palimpsest mcp`` driven by the official ``mcp`` client, as an agent would: over stdio with the
model loaded in the MCP process, and over streamable HTTP calling a real keyed server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("mcp")
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from tests.helpers.models import save_model_dir, tiny_llama  # noqa: E402
from tests.helpers.server import REPO, TEST_CACHE, free_port  # noqa: E402

TOOLS = {"search_memory", "add_document", "add_fact", "update", "edit_fact", "list_history", "revert", "state"}
CHANGES = {"add_document", "add_fact", "update", "edit_fact"}
FACT = {"subject": "Ilse Varga", "relation": "works for", "object": "Ostrander Mills"}
EDIT = {"prompt": "the capital of france is", "subject": "france", "target_new": "rome"}
"""In the tiny tokenizer's words."""
KEY = "mcp-test-key"


def tiny_env(tmp_path: Path) -> dict[str, str]:
    """Settings for a runtime on the tiny Llama: rule extraction, C = I edits, no guard."""
    model_dir = save_model_dir(tiny_llama(max_position_embeddings=1024), tmp_path / "tiny-llama")
    return {"PALIMPSEST_HOME": str(tmp_path / "home"), "PALIMPSEST_CACHE": str(TEST_CACHE),
            "PALIMPSEST_MODEL": str(model_dir), "PALIMPSEST_DEVICE": "cpu", "PALIMPSEST_MEMORY_EXTRACTOR": "rule",
            "PALIMPSEST_GUARD": "false", "PALIMPSEST_EDIT_COVARIANCE": "identity", "HF_HUB_OFFLINE": "1"}


def result(call) -> dict:
    assert not call.is_error, call.content[0].text
    assert json.loads(call.content[0].text) == call.structured_content
    return call.structured_content


def facts_about(found: dict, subject: str) -> list[str]:
    return [f["object"] for f in found["facts"] if f["subject"] == subject and f["invalid_from"] is None]


async def test_stdio_in_process_add_search_revert(tmp_path):
    params = StdioServerParameters(command=sys.executable, args=["-m", "serving.cli", "mcp"],
                                   env=tiny_env(tmp_path), cwd=str(REPO))
    async with Client(params, read_timeout_seconds=120) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for name in CHANGES:
            assert "Undo: `revert`" in tools[name].description, name
        assert tools["search_memory"].annotations.read_only_hint
        assert tools["revert"].annotations.destructive_hint

        added = result(await client.call_tool("add_fact", FACT))
        entry = added["entry"]
        assert entry["kind"] == "memory" and entry["status"] == "applied"
        found = result(await client.call_tool("search_memory", {"query": "Who does Ilse Varga work for?"}))
        assert facts_about(found, "Ilse Varga") == ["Ostrander Mills"]
        state = result(await client.call_tool("state", {}))
        assert state["applied"] == [entry["id"]] and state["memory"]["triples"] >= 1

        reverted = result(await client.call_tool("revert", {"entry_id": entry["id"]}))
        assert reverted["status"] == "reverted"
        found = result(await client.call_tool("search_memory", {"query": "Who does Ilse Varga work for?"}))
        assert facts_about(found, "Ilse Varga") == []
        assert result(await client.call_tool("state", {}))["applied"] == []
        history = result(await client.call_tool("list_history", {"status": "reverted"}))["data"]
        assert [e["id"] for e in history] == [entry["id"]]

        again = await client.call_tool("revert", {"entry_id": entry["id"]})
        assert again.is_error and "409" in again.content[0].text

        base = state["fingerprint"]
        edit = result(await client.call_tool("edit_fact", EDIT))
        assert edit["entry"]["kind"] == "edit" and set(edit["before"]) == set(edit["after"]) == {"p_new"}
        assert result(await client.call_tool("state", {}))["fingerprint"] != base
        result(await client.call_tool("revert", {"entry_id": edit["entry"]["id"]}))
        assert result(await client.call_tool("state", {}))["fingerprint"] == base  # bit for bit


async def test_streamable_http_calls_a_running_server(start_server, tmp_path):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    env = tiny_env(tmp_path)
    url = start_server(tmp_path / "home", **{k: v for k, v in env.items() if k != "PALIMPSEST_HOME"},
                       PALIMPSEST_API_KEY=KEY)
    port = free_port()
    mcp_env = {**os.environ, "PALIMPSEST_URL": url, "PALIMPSEST_API_KEY": KEY, "PALIMPSEST_MCP_PORT": str(port),
               "PALIMPSEST_MCP_TRANSPORT": "streamable-http", "PALIMPSEST_MODEL": "/nonexistent"}  # never loaded
    log = tmp_path / "mcp.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "mcp"], env=mcp_env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                refused = httpx.post(endpoint, json={}, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert refused.status_code == 401

        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx2.AsyncClient(headers=headers) as http, \
                Client(streamable_http_client(endpoint, http_client=http), read_timeout_seconds=120) as client:
            added = result(await client.call_tool("update", {"text": "Ilse Varga works for Ostrander Mills."}))
            assert added["route"] in ("memory", "edit") and added["reason"]
            entry = added["entry"]["id"]
            server_history = httpx.get(url + "/v1/history", headers=headers).json()["data"]
            assert [e["id"] for e in server_history] == [entry]
            result(await client.call_tool("revert", {"entry_id": entry}))
        assert httpx.get(f"{url}/v1/history/{entry}", headers=headers).json()["status"] == "reverted"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
