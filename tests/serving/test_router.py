"""The router's decisions (pure part) and /v1/updates end to end on the real model."""

from __future__ import annotations

import httpx
import pytest

from serving.evaluation.router import names_object
from serving.services.routing import Fact, Probe, classify, parse_statement, sentences


def known(fact: Fact) -> Probe:
    return Probe(" Paris", 0.7, 3.0)


def guess(fact: Fact) -> Probe:
    return Probe(" the company", 0.15, 0.4)


def test_parse_statement():
    assert parse_statement("The Eiffel Tower is located in Rome.") == Fact("The Eiffel Tower", "is located in", "Rome")
    assert parse_statement("Kira Osei lives in Accra") == Fact("Kira Osei", "lives in", "Accra")
    assert parse_statement("The weather is nice today.") is None
    assert sentences("One thing. Two things! Three?") == ["One thing.", "Two things!", "Three?"]


def test_routes_by_kind_and_by_what_the_model_knows():
    examples = {"examples": [{"input": "a", "output": "b"}], "name": "x"}
    assert classify(examples, known).route == "skill"
    assert classify({"text": "A first sentence. A second one follows."}, known).route == "memory"
    fact = {"fact": {"subject": "The Eiffel Tower", "relation": "is located in", "object": "Rome"}}
    assert classify(fact, known).route == "edit"
    assert classify(fact, guess).route == "memory"
    already = {"fact": {"subject": "The Eiffel Tower", "relation": "is located in", "object": "Paris"}}
    decision = classify(already, known)
    assert decision.route == "memory" and "already" in decision.reason
    assert classify({"text": "The Eiffel Tower is located in Rome."}, known).route == "edit"


@pytest.mark.slow
def test_updates_route_on_the_real_model(start_server, tmp_path):
    url = start_server(tmp_path / "home", PALIMPSEST_MEMORY_EXTRACTOR="rule")
    doc = httpx.post(url + "/v1/updates", json={"text": "Orvik is a fishing town. About 3,000 people live there."},
                     timeout=300)
    assert doc.status_code == 201, doc.text
    assert doc.json()["route"] == "memory"
    entry = doc.json()["entry"]
    assert entry["kind"] == "memory" and entry["details"]["routing"]["route"] == "memory"

    unknown = httpx.post(url + "/v1/updates", json={"fact": {"subject": "Zorblat Quenn", "relation": "works for",
                                                             "object": "Acme Robotics"}}, timeout=300).json()
    assert unknown["route"] == "memory", unknown["reason"]

    bad = httpx.post(url + "/v1/updates", json={"text": "x", "fact": {"subject": "a", "relation": "b", "object": "c"}})
    assert bad.status_code == 422
    forced = httpx.post(url + "/v1/updates", json={"text": "The weather is nice.", "route": "edit"})
    assert forced.status_code == 400 and "fact" in forced.json()["error"]["message"]
    assert len(httpx.get(url + "/v1/history").json()["data"]) == 2


def test_the_policy_label_does_not_count_the_subject_repeated_as_its_object():
    said = " the 2018 Oakland, California, in Ohio State Route 315"
    assert not names_object(said, "Ohio", "Ohio State Route 315")
    assert names_object(said, "Oakland", "Ohio State Route 315")
    assert names_object(" Cardiff, Wales.", "Cardiff", "Cardiff Blitz")
