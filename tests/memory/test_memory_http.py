"""End to end through a real server on loopback with the real default model."""

import httpx
import openai
import pytest

from tests.helpers.memory_world import PASSAGES, TWO_HOP

pytestmark = pytest.mark.slow


def test_memory_over_http(start_server, tmp_path):
    home = tmp_path / "home"
    url = start_server(home, PALIMPSEST_MEMORY_EXTRACTOR="rule")
    http = httpx.Client(base_url=url, timeout=120)
    empty = {"passages": 0, "entities": 0, "triples": 0, "edges": 0, "facts_current": 0, "facts_superseded": 0}
    assert http.get("/v1/memory/stats").json() == empty

    r = http.post("/v1/memory/documents", json={"documents": [{"text": t, "id": k} for k, t in PASSAGES.items()]})
    assert r.status_code == 201, r.text
    body = r.json()
    docs_entry = body["entry"]
    assert docs_entry["kind"] == "memory" and docs_entry["status"] == "applied"
    assert body["passages"] == len(PASSAGES) and body["entities"] > 10 and body["triples"] > 5
    stats = http.get("/v1/memory/stats").json()
    assert stats["passages"] == len(PASSAGES)

    question, gold = TWO_HOP[0]
    hits = http.get("/v1/memory/search", params={"q": question, "k": 3}).json()["results"]
    assert gold <= {h["id"] for h in hits}

    # bad input: 4xx, nothing ingested, nothing recorded
    history = len(http.get("/v1/history").json()["data"])
    bad = [
        http.post("/v1/memory/documents", json={"documents": [{"text": "Nora Pell lives in Quillby."}, {"text": "  "}]}),
        http.post("/v1/memory/documents", json={"documents": [{"text": "x " * 5_000_000}]}),
        http.post("/v1/memory/documents", content=b'{"documents": [{"text": "unterminated', headers={"content-type": "application/json"}),
        http.post("/v1/memory/documents", json={"documents": []}),
        http.post("/v1/memory/facts", json={"facts": [{"subject": "Nora Pell", "relation": "", "object": "Quillby"}]}),
        http.get("/v1/memory/search", params={"q": ""}),
    ]
    assert [b.status_code for b in bad] == [400, 413, 422, 422, 400, 422]
    assert all("message" in b.json()["error"] for b in bad)
    assert http.get("/v1/memory/stats").json() == stats
    assert len(http.get("/v1/history").json()["data"]) == history

    r = http.post("/v1/memory/facts", json={"facts": [{"subject": "Ida Marrow", "relation": "was the mother of", "object": "Alice Vantor"}]})
    assert r.status_code == 201, r.text
    fact_entry = r.json()["entry"]

    client = openai.OpenAI(base_url=url + "/v1", api_key="unused")
    raw = client.chat.completions.with_raw_response.create(
        model="default", messages=[{"role": "user", "content": "Which museum bought The Blue Mill?"}], max_tokens=16, temperature=0
    )
    cited = {c["id"] for c in raw.http_response.json()["palimpsest"]["citations"]}
    assert "bluemill" in cited

    # a restart (a second server on the same home) loads the same memory
    again = httpx.Client(base_url=start_server(home, PALIMPSEST_MEMORY_EXTRACTOR="rule"), timeout=120)
    assert again.get("/v1/memory/stats").json() == http.get("/v1/memory/stats").json()
    assert again.get("/v1/memory/search", params={"q": question, "k": 3}).json() == http.get(
        "/v1/memory/search", params={"q": question, "k": 3}
    ).json()

    assert http.post(f"/v1/history/{docs_entry['id']}/revert").status_code == 200
    assert http.get("/v1/memory/stats").json() == {"passages": 1, "entities": 2, "triples": 1, "edges": 3, "facts_current": 1, "facts_superseded": 0}
    assert http.post(f"/v1/history/{docs_entry['id']}/revert").status_code == 409
    assert http.post(f"/v1/history/{fact_entry['id']}/revert").status_code == 200
    assert http.get("/v1/memory/stats").json() == empty
