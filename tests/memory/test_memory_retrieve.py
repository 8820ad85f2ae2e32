"""The retrieval math: PageRank seeds and Personalized PageRank."""

import numpy as np
import pytest

from memory.graph import MemoryGraph
from memory.retrieve import RetrievalConfig, entity_seeds, personalized_pagerank


def test_entity_seeds_use_node_specificity_and_top_k():
    seeds = entity_seeds([(1.0, "a", "b"), (0.5, "a", "c")], {"a": 4, "b": 1, "c": 1}, top_k=2)
    assert seeds == {"b": 1.0, "c": 0.5}  # "a" is in 4 passages: (1/4 + 0.5/4) / 2


def test_ppr_mass_flows_from_seed_through_the_graph():
    g = MemoryGraph()
    for pid in ("p1", "p2", "p3"):
        g.add_passage(pid, "i")
    for key in ("x", "y", "z"):
        g.add_entity(key, key, "i")
    g.add_context("p1", "x", "i")
    g.add_context("p2", "y", "i")
    g.add_context("p3", "z", "i")
    g.add_relation("x", "knows", "y", "i")
    m = g.matrix()
    reset = np.zeros(len(m.nodes))
    reset[m.index["e:x"]] = 1.0
    p = personalized_pagerank(m, reset, 0.5, 1e-10, 200)
    assert p.sum() == pytest.approx(1.0)
    score = {n: p[m.index[n]] for n in m.nodes}
    assert score["p:p1"] > score["p:p2"] > score["p:p3"] == 0.0


def test_config_validation():
    with pytest.raises(ValueError):
        RetrievalConfig(damping=1.0)
    with pytest.raises(ValueError):
        RetrievalConfig(linking_top_k=0)


def test_row_max_picks_the_best_column_per_row_and_zero_for_empty_rows():
    import scipy.sparse as sp

    from memory.retrieve import row_max

    rows = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]], dtype=float))
    assert row_max(rows, np.array([0.2, 0.9, 0.5])).tolist() == [0.5, 0.0, 0.9]


def test_fact_passages_and_edge_weights():
    g = MemoryGraph()
    for pid in ("p1", "p2"):
        g.add_passage(pid, "i")
    for key in ("x", "y"):
        g.add_entity(key, key, "i")
    g.add_context("p1", "x", "i")
    g.add_context("p1", "y", "i")
    g.add_context("p2", "x", "i")
    g.add_relation("x", "knows", "y", "i")
    assert g.passages_with("x", "y") == ["p1"]  # only p1 mentions both ends of the fact
    assert sorted(g.passages_with("x", "x")) == ["p1", "p2"]
    assert g.passages_with("x", "absent") == []
    assert g.g.edges["e:x", "e:y"]["weight"] == 2.0  # relation edges count twice a context edge
    assert g.g.edges["p:p1", "e:x"]["weight"] == 1.0
