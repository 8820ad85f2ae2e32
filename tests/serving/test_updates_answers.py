"""Facts that replace facts, the relevance gate, and a routed edit that also lands in the memory,
on the tiny Llama through the real HTTP app (invented facts, no shared data)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from memory.store import Document
from serving.http.app import create_app
from serving.services.routing import Fact
from serving.services.updates import Update
from tests.helpers.engine import tiny_runtime


@pytest.fixture
def runtime(tmp_path):
    rt = tiny_runtime(tmp_path)
    yield rt
    rt.close()


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def _facts(client: TestClient, *triples: tuple[str, str, str], **extra) -> dict:
    body = {"facts": [dict(zip(("subject", "relation", "object"), t)) for t in triples], **extra}
    response = client.post("/v1/memory/facts", json=body)
    assert response.status_code == 201, response.text
    return response.json()["entry"]


def _current(client: TestClient, q: str, **params) -> list[tuple[str, str]]:
    facts = client.get("/v1/memory/search", params={"q": q, "k": 10, **params}).json()["facts"]
    return [(f["object"], f["invalid_from"]) for f in facts if f["subject"] == "Ilse Varga"]


def test_a_newer_fact_replaces_the_older_and_revert_restores_it(client):
    first = _facts(client, ("Ilse Varga", "works for", "Ostrander Mills"))
    _facts(client, ("Ilse Varga", "speaks", "Hungarian"))
    second = _facts(client, ("Ilse Varga", "works for", "Kettle & Finch"))
    assert second["details"]["superseded"], second["details"]
    objects = [o for o, _ in _current(client, "Who does Ilse Varga work for?")]
    assert "Kettle & Finch" in objects and "Ostrander Mills" not in objects
    assert "Hungarian" in objects  # a multi-valued relation is not replaced
    then = first["created_at"]
    old = [o for o, _ in _current(client, "Who does Ilse Varga work for?", as_of=then)]
    assert "Ostrander Mills" in old and "Kettle & Finch" not in old

    assert client.post(f"/v1/history/{second['id']}/revert").status_code == 200
    objects = [o for o, _ in _current(client, "Who does Ilse Varga work for?")]
    assert "Ostrander Mills" in objects and "Kettle & Finch" not in objects


def test_a_stated_fact_about_the_named_thing_is_replaced_by_a_sentence_without_its_article(client):
    for text in ("The Corrin Valley Railway is owned by Mistral Transit.",
                 "Mistral Transit sold the Corrin Valley Railway to Penhallow Holdings."):
        response = client.post("/v1/updates", json={"text": text, "route": "memory"})
        assert response.status_code == 201, response.text
    asked = {"q": "Who owns the Corrin Valley Railway?", "k": 10}
    facts = client.get("/v1/memory/search", params=asked).json()["facts"]
    assert [f["object"] for f in facts if f["subject"].endswith("Corrin Valley Railway")] == ["Penhallow Holdings"]


def test_replaces_false_keeps_both(client):
    _facts(client, ("Ilse Varga", "works for", "Ostrander Mills"))
    _facts(client, ("Ilse Varga", "works for", "Kettle & Finch"), replaces=False)
    objects = [o for o, _ in _current(client, "Who does Ilse Varga work for?")]
    assert {"Ostrander Mills", "Kettle & Finch"} <= set(objects)


def _chat(client: TestClient, question: str, **extra) -> dict:
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": 3, "temperature": 0, **extra}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()["palimpsest"]


def test_only_a_question_about_a_stored_fact_is_grounded(client):
    _facts(client, ("Ilse Varga", "works for", "Kettle & Finch"))
    about = _chat(client, "Who does Ilse Varga work for?")
    assert about["grounded"] and any("Kettle & Finch" in c["text"] for c in about["citations"])
    assert about["citations"][0]["type"] == "fact"
    unrelated = _chat(client, "What is the capital of France?")
    assert unrelated == {"grounded": False, "citations": [], "edits": True}  # no edit applied: nothing to leave out
    forced = _chat(client, "What is the capital of France?", memory=True)
    assert forced["grounded"]
    off = _chat(client, "Who does Ilse Varga work for?", memory=False)
    assert not off["grounded"]


def test_a_chain_of_facts_is_followed(runtime):
    runtime.memory.add_facts([("Ilse Varga", "works for", "Kettle & Finch")])
    runtime.memory.add_facts([("Kettle & Finch", "is headquartered in", "Brindlemoor")])
    runtime.memory.add_facts([("Brindlemoor", "is located in", "Oskarland")])
    grounding = runtime.chat.retrieve("In which country is the headquarters of Ilse Varga's employer located?", None, 3)
    assert [f.object for f in grounding.facts] == ["Kettle & Finch", "Brindlemoor", "Oskarland"]
    # a hop is followed only when the question asks for its relation
    grounding = runtime.chat.retrieve("In which city is the headquarters of Ilse Varga's employer?", None, 3)
    assert [f.object for f in grounding.facts] == ["Kettle & Finch", "Brindlemoor"]
    grounding = runtime.chat.retrieve("Who does Ilse Varga work for?", None, 3)
    assert [f.object for f in grounding.facts] == ["Kettle & Finch"]


def test_a_named_subject_below_the_gate_grounds_only_a_chain_to_an_asked_fact(runtime):
    runtime.chat.config = replace(runtime.chat.config, fact_min=0.99, fact_alone=0.99)  # no fact passes the gate
    runtime.memory.add_facts([("Get Back", "was performed by", "Marla Quint")])
    runtime.memory.add_facts([("Marla Quint", "is a citizen of", "Oskarland")])
    grounding = runtime.chat.retrieve("Which country is the singer of Get Back a citizen of?", None, 3)
    assert [f.object for f in grounding.facts] == ["Marla Quint", "Oskarland"]
    assert not runtime.chat.retrieve("When was Get Back released?", None, 3)  # no asked fact after it
    assert not runtime.chat.retrieve("Which country is the singer of Get Back a citizen of?", False, 3)


def test_a_chain_follows_facts_forward_from_an_object_not_facts_that_end_at_it(runtime):
    runtime.memory.add_facts([("Ana Ruiz", "plays the position of", "pitcher")])
    runtime.memory.add_facts([("pitcher", "is associated with the sport of", "rugby union")])
    runtime.memory.add_facts([("rugby union", "was created in the country of", "Oskarland")])
    runtime.memory.add_facts([("Gaelic football", "was created in the country of", "Oskarland")])
    runtime.memory.add_facts([("Oskarland", "capital of", "Brindlemoor")])
    question = "What is the capital of the country where the sport of Ana Ruiz's position was created?"
    objects = [f.object for f in runtime.chat.retrieve(question, None, 3).facts]
    assert objects[-1] == "Brindlemoor" and "rugby union" in objects
    assert not any(f.subject == "Gaelic football" for f in runtime.chat.retrieve(question, None, 3).facts)


def test_a_link_the_question_leaves_unsaid_is_followed_to_one_it_asks_about(runtime):
    runtime.memory.add_facts([("Ilse Varga", "works for", "Kettle & Finch")])
    runtime.memory.add_facts([("Kettle & Finch", "was founded by", "Oren Maddox")])
    runtime.memory.add_facts([("Oren Maddox", "is a citizen of", "Oskarland")])
    grounding = runtime.chat.retrieve("What is the citizenship of the person behind Ilse Varga's employer?", None, 3)
    assert [f.object for f in grounding.facts] == ["Kettle & Finch", "Oren Maddox", "Oskarland"]
    # no asked fact after the unsaid link: it is not followed
    grounding = runtime.chat.retrieve("Which company employs Ilse Varga?", None, 3)
    assert [f.object for f in grounding.facts] == ["Kettle & Finch"]


def test_a_question_for_the_town_of_a_link_reaches_its_location(runtime):
    runtime.memory.add_facts([("Marisol Quenby", "works at", "Halden Marine Lab")])
    runtime.memory.add_facts([("Halden Marine Lab", "is located in", "Brightwater")])
    grounding = runtime.chat.retrieve("In which town is the lab where Marisol Quenby works?", None, 3)
    assert [f.object for f in grounding.facts] == ["Halden Marine Lab", "Brightwater"]


def test_a_question_that_names_a_facts_object_and_asks_its_relation_goes_on_from_its_subject(runtime):
    runtime.memory.add_facts([("Kestrel Works", "chief executive of", "Ana Brisk")])
    runtime.memory.add_facts([("Kestrel Works", "was founded by", "Edda Varr")])
    grounding = runtime.chat.retrieve("Who founded the company that Ana Brisk runs?", None, 3)
    assert [(f.subject, f.object) for f in grounding.facts] == [("Kestrel Works", "Ana Brisk"),
                                                                ("Kestrel Works", "Edda Varr")]
    for question in ("Which company does Ana Brisk run?", "Which company is led by Ana Brisk?"):
        assert [f.object for f in runtime.chat.retrieve(question, None, 3).facts] == ["Ana Brisk"]
    assert not runtime.chat.retrieve("Where was Ana Brisk born?", None, 3)  # named, but not its relation


def test_a_fact_that_ends_at_the_named_subject_comes_before_its_facts_not_asked_about(runtime):
    runtime.memory.add_facts([("Lumen Forge", "has relocated its headquarters to", "Aberlin")])
    runtime.memory.add_facts([("Nerissa Vale", "founded", "Lumen Forge")])
    grounding = runtime.chat.retrieve("Who is the founder of Lumen Forge?", None, 3)
    assert [(f.subject, f.object) for f in grounding.facts] == [("Nerissa Vale", "Lumen Forge")]
    grounding = runtime.chat.retrieve("Where are Lumen Forge's headquarters now?", None, 3)
    assert [f.object for f in grounding.facts] == ["Aberlin"]  # asked about: its own fact


def test_a_chain_goes_on_with_a_relation_it_has_not_taken(runtime):
    runtime.memory.add_facts([("Hollin Freight", "was founded by", "Jory Thane")])
    runtime.memory.add_facts([("Hollin Freight", "was founded in", "1956")])
    runtime.memory.add_facts([("Hollin Freight", "chief executive is", "Sunniva Rask")])
    grounding = runtime.chat.retrieve("Who runs the company founded by Jory Thane?", None, 3)
    assert [f.object for f in grounding.facts] == ["Jory Thane", "Sunniva Rask"]  # not "founded in" again


def test_a_document_chains_through_a_pronoun_and_a_newer_document_replaces_the_employer(client, runtime):
    text = ("Marek Lindqvist is a data scientist from Ravensholt. In 2019 he joined Corvane Analytics, a firm "
            "headquartered in Oslo. The chief executive of Corvane Analytics is Dagny Moe.")
    assert client.post("/v1/memory/documents", json={"documents": [{"text": text}]}).status_code == 201
    grounding = runtime.chat.retrieve("Who is the CEO of the company Marek Lindqvist works for?", None, 3)
    assert [f.object for f in grounding.facts][-2:] == ["Corvane Analytics", "Dagny Moe"]
    later = client.post("/v1/memory/documents", json={"documents": [
        {"text": "In 2024 Marek Lindqvist left Corvane Analytics. He now works for Halvard Freight."}]})
    objects = [f.object for f in runtime.chat.retrieve("Who does Marek Lindqvist work for?", None, 3).facts]
    assert "Halvard Freight" in objects and "Corvane Analytics" not in objects  # "joined" is superseded
    client.post(f"/v1/history/{later.json()['entry']['id']}/revert")
    objects = [f.object for f in runtime.chat.retrieve("Who does Marek Lindqvist work for?", None, 3).facts]
    assert "Corvane Analytics" in objects and "Halvard Freight" not in objects


def test_a_routed_edit_is_also_a_memory_fact_and_one_revert_undoes_both(runtime):
    engine = runtime.engine
    outcome = runtime.updates.apply(Update(fact=Fact("paris", "is located in", "rome"), route="edit"))
    entry = outcome.entry
    assert entry.kind == "edit" and entry.status == "applied"
    assert engine.host.fingerprint() != engine.base_fingerprint
    assert [h.object for h in runtime.memory.search_facts("where is paris located", 3)] == ["rome"]

    engine.revert(entry.id)
    assert engine.host.fingerprint() == engine.base_fingerprint
    assert runtime.memory.is_empty() and runtime.memory.search_facts("where is paris located", 3) == []


def test_chat_says_whether_the_edits_acted_on_the_answer(runtime, client):
    runtime.updates.apply(Update(fact=Fact("paris", "is located in", "rome"), route="edit"))
    assert _chat(client, "where is paris located")["edits"] is True  # names the edited subject
    assert _chat(client, "what is the capital of spain")["edits"] is False


def test_a_passage_far_below_the_best_ones_pagerank_is_not_shown_unless_grounding_is_forced(runtime):
    runtime.memory.add_documents([Document("Lake Tamaru is a freshwater lake in Hokkaido. The lake is known for its "
                                           "red-crowned cranes."),
                                  Document("The Brightwater Prize is a literary award set up by the Halden Trust."),
                                  Document("Vostok Foods is a company that makes frozen dumplings in Kazan.")])
    question = "Which birds live at Lake Tamaru?"  # no fact answers it: the passages are all there is
    runtime.chat.config = replace(runtime.chat.config, passage_min=-1.0, passage_ratio=0.0)
    every = runtime.chat.retrieve(question, None, 3).passages
    assert len(every) > 1 and every[0]["text"].startswith("Lake Tamaru")
    runtime.chat.config = replace(runtime.chat.config, passage_ratio=0.5)
    kept = runtime.chat.retrieve(question, None, 3).passages
    assert [p["id"] for p in kept] == [p["id"] for p in every if p["score"] >= 0.5 * every[0]["score"]]
    assert len(kept) < len(every)
    assert len(runtime.chat.retrieve(question, True, 3).passages) == len(every)


def test_a_passage_that_names_nothing_of_a_fact_answering_the_question_is_not_shown(runtime):
    runtime.memory.add_documents([Document("Tobias Engel divorced Clara Voss and married Nadia Rahim."),
                                  Document("Anneli Korpela left the Halvard Institute; Tomas Reyes now directs it.")])
    runtime.chat.config = replace(runtime.chat.config, passage_min=-1.0, passage_ratio=0.0)
    grounding = runtime.chat.retrieve("Who is Tobias Engel married to?", None, 3)
    assert [(f.relation, f.object) for f in grounding.facts] == [("married", "Nadia Rahim")]
    assert [p["text"] for p in grounding.passages] == ["Tobias Engel divorced Clara Voss and married Nadia Rahim."]
    forced = runtime.chat.retrieve("Who is Tobias Engel married to?", True, 3)
    assert len(forced.passages) == 2  # forced grounding shows them all
    # a question that no shown fact answers keeps the passages
    assert len(runtime.chat.retrieve("Which institute is Tomas Reyes at?", None, 3).passages) == 2
    # the first hop of a longer question answers nothing alone: its passages stay
    runtime.memory.add_facts([("Nadia Rahim", "was born in", "Kessau")])
    two_hop = runtime.chat.retrieve("Where was the woman Tobias Engel married born?", None, 3)
    assert [f.object for f in two_hop.facts] == ["Nadia Rahim", "Kessau"] and len(two_hop.passages) == 2
