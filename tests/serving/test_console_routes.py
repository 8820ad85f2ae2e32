"""The console's files and the read-only memory views it draws (passage, entity neighbourhood,
grounding), on the tiny Llama through the real HTTP app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serving.http.app import create_app
from serving.http.routes.console import CONSOLE_DIR, FILES
from tests.helpers.engine import tiny_runtime

OLD = {"subject": "Ilse Varga", "relation": "works for", "object": "Ostrander Mills"}
NEW = {"subject": "Ilse Varga", "relation": "works for", "object": "Kettle & Finch"}
QUESTION = "Who does Ilse Varga work for?"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    rt = tiny_runtime(tmp_path_factory.mktemp("console"))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def client(runtime):
    with TestClient(create_app(runtime=runtime)) as c:
        for fact in (OLD, NEW):
            assert c.post("/v1/memory/facts", json={"facts": [fact]}).status_code == 201
        yield c


def test_root_leads_to_the_console_and_its_files_are_served(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in FILES:
        assert (CONSOLE_DIR / name).is_file()
        if name != "index.html":
            assert f'"{name}"' in page.text, f"index.html does not load {name}"
            assert client.get(f"/console/{name}").text == (CONSOLE_DIR / name).read_text()
    missing = client.get("/console/app.js.map")
    assert missing.status_code == 404 and "error" in missing.json()


def test_the_console_is_served_without_the_key_but_v1_needs_it(runtime, tmp_path):
    settings = runtime.settings.model_copy(update={"api_key": "s3cret"})
    with TestClient(create_app(settings, runtime)) as keyed:
        assert keyed.get("/console/app.js").status_code == 200
        assert keyed.get("/v1/memory/stats").status_code == 401
        assert keyed.get("/v1/memory/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_entity_view_keeps_superseded_facts_and_draws_the_relation_edge(client):
    hood = client.get("/v1/memory/entities/Ilse Varga").json()
    assert hood["key"] == "ilse varga" and hood["nodes"][0] == {"id": "e:ilse varga", "kind": "entity", "label": "Ilse Varga"}
    old, new = hood["facts"]
    assert (old["object"], new["object"]) == ("Ostrander Mills", "Kettle & Finch")
    assert old["superseded_by"] == new["id"] and old["invalid_from"] == new["valid_from"]
    assert new["invalid_from"] is None and new["superseded_by"] is None
    relation = [e for e in hood["edges"] if e["kind"] == "relation"]
    assert {(e["source"], e["target"]) for e in relation} == {("e:ilse varga", "e:kettle finch"),
                                                              ("e:ilse varga", "e:ostrander mills")}
    assert all(e["relations"] == ["works for"] for e in relation)
    ids = {n["id"] for n in hood["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in hood["edges"])
    assert len(client.get("/v1/memory/entities/Ilse Varga", params={"limit": 1}).json()["nodes"]) == 2
    unknown = client.get("/v1/memory/entities/Nobody Here")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"


def test_passage_view_names_its_entities_and_facts(client):
    hits = client.get("/v1/memory/search", params={"q": "Ostrander Mills", "k": 10}).json()["results"]
    pid = next(h["id"] for h in hits if "Kettle" in h["text"])
    view = client.get(f"/v1/memory/passages/{pid}").json()
    assert view["text"] == "Ilse Varga works for Kettle & Finch."
    assert [e["name"] for e in view["entities"]] == ["Ilse Varga", "Kettle & Finch"]
    assert [(f["subject"], f["object"], f["invalid_from"]) for f in view["facts"]] == [("Ilse Varga", "Kettle & Finch", None)]
    assert client.get("/v1/memory/passages/p-0000").status_code == 404


def test_grounding_is_what_chat_cites(client):
    shown = client.get("/v1/memory/grounding", params={"q": QUESTION}).json()
    assert shown["grounded"]
    assert any("Kettle & Finch" in c["text"] for c in shown["citations"])
    assert not any("Ostrander" in c["text"] for c in shown["citations"])
    chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 2})
    assert chat.json()["palimpsest"]["citations"] == shown["citations"]
    off = client.get("/v1/memory/grounding", params={"q": QUESTION, "memory": "false"}).json()
    assert off == {"grounded": False, "citations": []}
    assert client.get("/v1/memory/grounding", params={"q": "  "}).status_code == 400
