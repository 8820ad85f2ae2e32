"""GraphMemory on an invented world: two-hop retrieval, exact revert, restart, bad input."""

import pytest

from memory.store import DocumentTooLargeError, GraphMemory, MemoryInputError
from tests.helpers.memory_world import EXTRA, PASSAGES, TWO_HOP, docs


def test_ingest_counts(world: GraphMemory):
    stats = world.stats()
    assert stats["passages"] == len(PASSAGES)
    assert stats["entities"] >= 15
    assert stats["triples"] >= 10
    assert world.graph.g.has_edge("e:alice vantor", "e:quillby")
    assert "was a painter born in" in world.graph.g.edges["e:alice vantor", "e:quillby"]["rel"]
    assert world.graph.g.has_edge("p:bluemill", "e:harlan museum")


@pytest.mark.parametrize("question,gold", TWO_HOP)
def test_two_hop_question_gets_both_passages_in_top3(world: GraphMemory, question, gold):
    top = [hit["id"] for hit in world.search(question, 3)]
    assert gold <= set(top), top


def test_revert_restores_identical_memory(world: GraphMemory):
    before = world.snapshot()
    result = world.ingest_documents(docs(EXTRA))  # shares Doravik, Lemmington, Ida Marrow, ...
    assert world.stats()["passages"] == len(PASSAGES) + len(EXTRA)
    assert world.snapshot() != before
    assert world.remove(result.id)
    assert world.snapshot() == before
    assert not world.remove(result.id)


def test_removing_an_older_ingest_leaves_no_trace_of_it(make_memory):
    mem = make_memory()
    mem.ingest_documents(docs(PASSAGES), ingest_id="first")
    mem.ingest_documents(docs(EXTRA), ingest_id="second")
    mem.remove("first")
    reference = make_memory()
    reference.ingest_documents(docs(EXTRA), ingest_id="second")
    g, ref = mem.graph.g, reference.graph.g
    assert set(g.nodes) == set(ref.nodes)
    assert {frozenset(e) for e in g.edges} == {frozenset(e) for e in ref.edges}
    for _, _, data in g.edges(data=True):
        assert "first" not in data["ctx"] and all("first" not in s for s in data["rel"].values())
    assert mem.passages.keys() == reference.passages.keys()
    assert mem.entities.keys() == reference.entities.keys()
    assert mem.facts.keys() == reference.facts.keys()


def test_same_passage_twice_adds_no_duplicate_edges(make_memory):
    mem = make_memory()
    a = mem.ingest_documents(docs(PASSAGES))
    edges = set(map(frozenset, mem.graph.g.edges))
    b = mem.ingest_documents(docs(PASSAGES))
    assert set(map(frozenset, mem.graph.g.edges)) == edges
    assert mem.graph.g.number_of_edges() == len(edges)
    mem.remove(a.id)
    assert mem.stats()["passages"] == len(PASSAGES)
    mem.remove(b.id)
    assert mem.stats() == {"passages": 0, "entities": 0, "triples": 0, "edges": 0, "facts_current": 0, "facts_superseded": 0}
    assert len(mem.passages) == len(mem.entities) == len(mem.facts) == 0


def test_synonym_edges_only_for_new_entities(make_memory):
    mem = make_memory()
    mem.ingest_documents(docs(PASSAGES), ingest_id="a")
    mem.ingest_documents(docs({"museum2": "The Harlan Museums lent a Vantor painting to Doravik."}), ingest_id="b")
    known = {e["key"] for e in mem.records["a"]["entities"]}
    synonyms = mem.records["b"]["synonyms"]
    assert synonyms, "expected 'harlan museums' ~ 'harlan museum'"
    assert all(not (x in known and y in known) for x, y, _ in synonyms)
    assert mem.graph.g.edges["e:harlan museum", "e:harlan museums"]["syn"] >= 0.8


def test_restart_loads_the_same_memory(make_memory, tmp_path):
    mem = make_memory(tmp_path / "memory")
    mem.ingest_documents(docs(PASSAGES), ingest_id="world")
    mem.ingest_documents(docs(EXTRA), ingest_id="extra")
    mem.ingest_facts([("Ida Marrow", "owned", "The Blue Mill")], ingest_id="fact")
    mem.remove("extra")
    again = make_memory(tmp_path / "memory")
    assert again.snapshot() == mem.snapshot()
    assert again.ingest_ids() == ["world", "fact"]
    question = TWO_HOP[0][0]
    assert [h["id"] for h in again.search(question, 5)] == [h["id"] for h in mem.search(question, 5)]


def test_torn_journal_tail_is_ignored(make_memory, tmp_path):
    mem = make_memory(tmp_path / "m")
    mem.ingest_documents(docs(PASSAGES), ingest_id="world")
    with (tmp_path / "m" / "journal.jsonl").open("a") as f:
        f.write('{"op": "add", "id": "half')  # a crash in the middle of a line
    again = make_memory(tmp_path / "m")
    assert again.ingest_ids() == ["world"]
    again.ingest_documents(docs(EXTRA), ingest_id="extra")
    assert make_memory(tmp_path / "m").ingest_ids() == ["world", "extra"]


def test_bad_input_leaves_memory_unchanged(world: GraphMemory):
    before = world.snapshot()
    with pytest.raises(MemoryInputError):
        world.ingest_documents(docs({"ok": "Nora Pell lives in Quillby.", "blank": "   "}))
    with pytest.raises(DocumentTooLargeError):
        world.ingest_documents(docs({"huge": "Nora Pell lives in Quillby. " * 400_000}))
    with pytest.raises(MemoryInputError):
        world.ingest_documents(docs({"vantor": "A different text under an existing passage id."}))
    with pytest.raises(MemoryInputError):
        world.ingest_facts([("Nora Pell", "", "Quillby")])
    with pytest.raises(MemoryInputError):
        world.ingest_documents([])
    assert world.snapshot() == before


def test_facts_become_searchable_passages(world: GraphMemory):
    result = world.ingest_facts([("Ida Marrow", "was the mother of", "Alice Vantor")])
    assert (result.passages, result.entities, result.triples) == (1, 2, 1)
    top = world.search("Who was the mother of Alice Vantor?", 2)
    assert "Ida Marrow was the mother of Alice Vantor." in [hit["text"] for hit in top]


def test_long_documents_are_split_into_passages(make_memory):
    mem = make_memory()
    text = "\n\n".join(f"Paragraph {i}: Ansel Brook visited Harrowgate on day {i}. " * 8 for i in range(6))
    result = mem.ingest_documents(docs({"diary": text}))
    assert result.passages > 1
    assert all(len(p.text) <= mem.config.max_passage_chars for p in mem.passage_data.values())
    assert all(pid.startswith("diary#") for pid in mem.passage_data)


def test_fact_context_changes_which_facts_seed(world: GraphMemory):
    """With the passage context on, a fact's linking score includes its best passage's cosine."""
    q = world.embedder.encode(["Who founded the museum that bought The Blue Mill?"])[0]
    pids, dense = world.passages.all_scores(q)
    fids, cosine = world.facts.all_scores(q)
    rows = world._fact_passages(fids, pids)
    assert rows.shape == (len(fids), len(pids)) and rows.nnz >= len(fids)  # every fact has a passage
    assert world._fact_passages(fids, pids) is rows  # cached
    world.ingest_facts([("Nora Pell", "lives in", "Quillby")])
    fids2, _ = world.facts.all_scores(q)
    pids2, _ = world.passages.all_scores(q)
    assert world._fact_passages(fids2, pids2).shape == (len(fids2), len(pids2))  # rebuilt after a change
