"""The read-only views the console draws: a passage with its entities and facts, an entity's neighbourhood."""

from memory.store import Document, passage_id

OLD = ("Ilse Varga", "works for", "Ostrander Mills")
NEW = ("Ilse Varga", "works for", "Kettle & Finch")


def test_passage_view_of_a_document(world):
    view = world.passage("bluemill")
    assert view["text"].startswith("The Blue Mill was bought in 1931")
    assert [e["name"] for e in view["entities"]] == ["1931", "Blue Mill", "Doravik", "Harlan Museum"]
    assert ("Blue Mill", "was bought in", "1931") in [(f["subject"], f["relation"], f["object"]) for f in view["facts"]]
    assert all("bluemill" in world.ledger.facts[f["id"]].passages for f in view["facts"])
    assert world.passage("nowhere") is None


def test_neighbourhood_keeps_superseded_facts_and_revert_restores_them(make_memory):
    mem = make_memory()
    mem.ingest_facts([OLD], ingest_id="a")
    mem.ingest_facts([NEW], ingest_id="b")
    hood = mem.neighbourhood("ilse  VARGA")
    assert hood["nodes"][0]["id"] == "e:ilse varga"
    old, new = hood["facts"]
    assert old["superseded_by"] == new["id"] == f"{new['id'].split('@')[0]}@b" and new["invalid_from"] is None
    kinds = {(e["source"], e["target"]): e["kind"] for e in hood["edges"]}
    assert kinds[("e:ilse varga", "e:kettle finch")] == "relation"
    assert kinds[("e:ilse varga", "p:" + passage_id("Ilse Varga works for Kettle & Finch."))] == "passage"
    assert mem.passage(passage_id("Ilse Varga works for Ostrander Mills."))["facts"][0]["superseded_by"] == new["id"]
    mem.remove("b")
    (only,) = mem.neighbourhood("Ilse Varga")["facts"]
    assert only["object"] == "Ostrander Mills" and only["superseded_by"] is None
    assert mem.passage(passage_id("Ilse Varga works for Kettle & Finch.")) is None
    assert mem.neighbourhood("Kettle & Finch") is None


def test_neighbourhood_limit_keeps_the_strongest_edges(make_memory):
    mem = make_memory()
    mem.ingest_documents([Document("Ida Marrow founded the Harlan Museum. Ida Marrow was born in Lemmington.", id="d")])
    mem.ingest_facts([("Ida Marrow", "founded", "Harlan Museum")], ingest_id="f")
    hood = mem.neighbourhood("Ida Marrow", limit=1)
    assert [n["id"] for n in hood["nodes"]] == ["e:ida marrow", "e:harlan museum"]
