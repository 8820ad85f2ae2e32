"""Apply and revert weight deltas through the engine: exact, in any order, durable."""

from __future__ import annotations

import pytest
import torch

from serving.core.history import AlreadyRevertedError, EntryNotFoundError, LowRank
from serving.core.model_host import UnknownParameterError
from tests.helpers.engine import assert_bit_identical, engine_on, snapshot, synthetic_delta
from tests.helpers.models import tiny_tokenizer

MLP = "model.layers.1.mlp.down_proj.weight"
ATTN = "model.layers.0.self_attn.q_proj.weight"


def test_two_deltas_reverted_in_creation_order_restore_the_base_bit_for_bit(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    base, base_fp = snapshot(tiny_llama), engine.host.fingerprint()

    first = engine.apply_delta("edit", "first", {}, synthetic_delta(tiny_llama, [MLP, ATTN], seed=1))
    fp_one = engine.host.fingerprint()
    second = engine.apply_delta("skill", "second", {}, synthetic_delta(tiny_llama, [MLP], seed=2))
    assert len({base_fp, fp_one, engine.host.fingerprint()}) == 3
    assert not torch.equal(dict(tiny_llama.named_parameters())[MLP], base[MLP])

    engine.revert(first.id)
    assert engine.applied() == [second.id]
    engine.revert(second.id)
    assert_bit_identical(snapshot(tiny_llama), base)
    assert engine.host.fingerprint() == base_fp
    assert [e.status for e in engine.history.list()] == ["reverted", "reverted"]


def test_reverting_an_older_entry_leaves_exactly_the_later_one(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path / "a")
    d1, d2 = synthetic_delta(tiny_llama, [MLP], 1), synthetic_delta(tiny_llama, [MLP, ATTN], 2)
    first = engine.apply_delta("edit", "first", {}, d1)
    engine.apply_delta("edit", "second", {}, d2)
    engine.revert(first.id)
    after_revert = engine.host.fingerprint()

    torch.manual_seed(0)
    from transformers import LlamaForCausalLM
    fresh_model = LlamaForCausalLM(tiny_llama.config).eval()
    fresh = engine_on(fresh_model, tiny_tokenizer(), tmp_path / "b")
    fresh.apply_delta("edit", "only second", {}, d2)
    assert fresh.host.fingerprint() == after_revert


def test_restart_rebuilds_the_same_weights(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    kept = engine.apply_delta("edit", "kept", {"why": "test"}, synthetic_delta(tiny_llama, [MLP], 1))
    dropped = engine.apply_delta("edit", "dropped", {}, synthetic_delta(tiny_llama, [ATTN], 2))
    engine.revert(dropped.id)
    expected = engine.host.fingerprint()
    engine.close()

    torch.manual_seed(0)
    from transformers import LlamaForCausalLM
    reborn = engine_on(LlamaForCausalLM(tiny_llama.config).eval(), tiny_tokenizer(), tmp_path)
    assert reborn.host.fingerprint() == expected
    assert reborn.applied() == [kept.id]
    assert reborn.history.get(kept.id).details == {"why": "test"}


def test_bad_changes_are_refused_and_nothing_is_stored(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    base_fp = engine.host.fingerprint()
    with pytest.raises(UnknownParameterError, match="no parameter"):
        engine.apply_delta("edit", "bad", {}, {"model.nope.weight": torch.zeros(3)})
    with pytest.raises(UnknownParameterError, match="shape"):
        engine.apply_delta("edit", "bad", {}, {MLP: torch.zeros(3, 3)})
    with pytest.raises(UnknownParameterError, match="at least one"):
        engine.apply_delta("edit", "bad", {}, {})
    assert engine.history.list() == []
    assert list((tmp_path / "deltas").iterdir()) == []
    assert engine.host.fingerprint() == base_fp

    entry = engine.apply_delta("edit", "ok", {}, synthetic_delta(tiny_llama, [MLP], 1))
    engine.revert(entry.id)
    with pytest.raises(AlreadyRevertedError):
        engine.revert(entry.id)
    with pytest.raises(EntryNotFoundError):
        engine.revert("edit-unknown")


def test_non_weight_entries_call_their_reverter_first(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    undone: list[str] = []
    engine.on_revert("memory", lambda entry: undone.append(entry.id))
    entry = engine.record("memory", "ingest", {"passages": 2})
    assert engine.applied() == [entry.id]

    def refuse(_entry):
        raise RuntimeError("store busy")

    engine.on_revert("memory", refuse)
    with pytest.raises(RuntimeError):
        engine.revert(entry.id)
    assert engine.history.get(entry.id).status == "applied"

    engine.on_revert("memory", lambda e: undone.append(e.id))
    assert engine.revert(entry.id).status == "reverted"
    assert undone == [entry.id]


def test_history_filters_and_orders_newest_first(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    a = engine.record("memory", "a", {})
    b = engine.apply_delta("edit", "b", {}, synthetic_delta(tiny_llama, [MLP], 1))
    engine.revert(a.id)
    assert [e.id for e in engine.history.list()] == [b.id, a.id]
    assert [e.id for e in engine.history.list(kind="edit")] == [b.id]
    assert [e.id for e in engine.history.list(status="reverted")] == [a.id]


def test_low_rank_deltas_are_stored_as_factors_and_rebuild_to_the_same_bits(tiny_llama, tmp_path):
    engine = engine_on(tiny_llama, tiny_tokenizer(), tmp_path)
    base, base_fp = snapshot(tiny_llama), engine.host.fingerprint()
    shape = dict(tiny_llama.named_parameters())[MLP].shape
    g = torch.Generator().manual_seed(3)
    low = LowRank(torch.randn(shape[0], 2, generator=g) * 0.1, torch.randn(2, shape[1], generator=g) * 0.1)
    entry = engine.apply_delta("edit", "low rank", {}, {MLP: low, ATTN: synthetic_delta(tiny_llama, [ATTN], 4)[ATTN]})
    applied = engine.host.fingerprint()
    torch.testing.assert_close(snapshot(tiny_llama)[MLP], base[MLP] + low.left @ low.right)

    stored = (tmp_path / "deltas" / f"{entry.id}.safetensors").stat().st_size
    assert stored < 4 * (low.left.numel() + low.right.numel() + base[ATTN].numel()) + 1024
    assert engine.history.params_of(entry.id) == sorted([MLP, ATTN])
    assert torch.equal(engine.history.delta(entry.id)[MLP], low.dense())
    engine.close()

    torch.manual_seed(0)
    from transformers import LlamaForCausalLM
    restarted = engine_on(LlamaForCausalLM(tiny_llama.config).eval(), tiny_tokenizer(), tmp_path)
    assert restarted.host.fingerprint() == applied
    restarted.revert(entry.id)
    assert restarted.host.fingerprint() == base_fp


def test_low_rank_factors_that_do_not_chain_are_refused():
    with pytest.raises(ValueError, match="do not chain"):
        LowRank(torch.zeros(4, 2), torch.zeros(3, 5))


def test_a_host_hashes_its_weights_only_when_a_fingerprint_is_asked_for(tiny_llama, monkeypatch):
    """The extraction's copy of the model is a host that is never fingerprinted: it hashes nothing.
    Hashing lazily changes no fingerprint: the same weights, the same one; changed weights, another."""
    from serving.core import model_host

    hashed = []
    digest = model_host.tensor_digest
    monkeypatch.setattr(model_host, "tensor_digest", lambda t: hashed.append(1) or digest(t))
    host = model_host.ModelHost(tiny_llama, tiny_tokenizer(), "tiny", torch.device("cpu"))
    assert hashed == []
    first = host.fingerprint()
    assert len(hashed) == len(list(tiny_llama.parameters()))
    assert host.fingerprint() == first and len(hashed) == len(list(tiny_llama.parameters()))
    eager = model_host.ModelHost(tiny_llama, tiny_tokenizer(), "tiny", torch.device("cpu"))
    assert eager.fingerprint() == first
    host.set_parameters({MLP: host.base_value(MLP) + 1.0})
    assert host.fingerprint() != first
