"""A revert is atomic for weights, memory and skills: a write that fails in the middle of it leaves
the entry applied and every piece of state as it was, and a crash after its commit is finished at
the next start. The faults are real filesystem calls made to fail (fsync, unlink)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import serving.core.history

from adapters.data import Example
from adapters.replay import SkillRecord
from serving.services import Runtime
from tests.helpers.engine import synthetic_delta, tiny_runtime

NAMES = ["model.layers.1.mlp.down_proj.weight", "model.layers.2.mlp.up_proj.weight"]
FACT = ("Ilse Varga", "works for", "Ostrander Mills")


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device (injected)")


def _edit_owning_a_fact(rt: Runtime):
    """A routed edit's shape: a weight delta that also owns one memory ingest."""
    staged = rt.memory.stage_facts([FACT])
    delta = synthetic_delta(rt.engine.host.model, NAMES, seed=3)
    return rt.engine.apply_delta("edit", "edit with a fact", {"memory_ingest_id": staged.id}, delta), staged.id


def _skill(rt: Runtime, name: str = "greet"):
    """A skill entry with its rehearsal record and a saved adapter, as a finished training leaves them."""
    adapter = rt.skills.root / "adapters" / name
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    record = SkillRecord(name, "Greet.", True, [Example("hi", "hello")])
    delta = synthetic_delta(rt.engine.host.model, NAMES, seed=5)
    entry = rt.engine.apply_delta("skill", f"skill {name}", {"name": name}, delta,
                                  on_recorded=lambda e: rt.skills.store.put(SkillRecord(**{**record.__dict__, "entry_id": e.id})))
    return entry, adapter


def _journal(rt: Runtime) -> bytes:
    return (rt.settings.home / "memory" / "journal.jsonl").read_bytes()


def test_a_failed_write_mid_revert_leaves_the_edit_and_its_fact_applied(tmp_path, monkeypatch):
    rt = tiny_runtime(tmp_path)
    base = rt.engine.host.fingerprint()
    entry, ingest = _edit_owning_a_fact(rt)
    applied, journal, stats = rt.engine.host.fingerprint(), _journal(rt), rt.memory.stats()
    assert applied != base

    with monkeypatch.context() as m:  # the memory journal's "remove" line cannot reach the disk
        m.setattr(os, "fsync", _disk_full)
        with pytest.raises(OSError, match="injected"):
            rt.engine.revert(entry.id)

    assert rt.engine.history.get(entry.id).status == "applied"
    assert rt.engine.applied() == [entry.id]
    assert rt.engine.host.fingerprint() == applied  # the weights went back, bit for bit
    assert rt.memory.store.ingest_ids() == [ingest] and rt.memory.stats() == stats
    assert _journal(rt) == journal  # the half-written line was cut off again
    rt.close()

    again = tiny_runtime(tmp_path)  # and so it stays after a restart
    assert again.engine.applied() == [entry.id] and again.memory.store.ingest_ids() == [ingest]
    assert again.engine.host.fingerprint() == applied
    assert again.engine.revert(entry.id).status == "reverted"  # the fault gone, the revert completes
    assert again.engine.host.fingerprint() == base and again.memory.store.ingest_ids() == []
    again.close()


@pytest.mark.parametrize("fault", ["record-unlink", "delta-read"])
def test_a_failed_file_call_mid_revert_leaves_the_skill_applied(fault, tmp_path, monkeypatch):
    rt = tiny_runtime(tmp_path)
    earlier, _ = _edit_owning_a_fact(rt)  # the skill's parameters are rebuilt from this entry's delta
    entry, adapter = _skill(rt)
    applied = rt.engine.host.fingerprint()

    with monkeypatch.context() as m:
        if fault == "record-unlink":  # the rehearsal record cannot be deleted
            m.setattr(Path, "unlink", _disk_full)
        else:  # the earlier entry's delta file cannot be read back
            m.setattr(serving.core.history, "safe_open", _disk_full)
        with pytest.raises(OSError, match="injected"):
            rt.engine.revert(entry.id)

    assert rt.engine.applied() == [earlier.id, entry.id]
    assert rt.engine.host.fingerprint() == applied
    assert [s["name"] for s in rt.skills.list()] == ["greet"] and adapter.is_dir()
    assert rt.engine.revert(entry.id).status == "reverted"
    assert rt.skills.list() == [] and not adapter.exists()
    rt.close()


def test_a_crash_after_the_revert_commits_is_finished_at_start_up(tmp_path):
    rt = tiny_runtime(tmp_path)
    base = rt.engine.host.fingerprint()
    edit, ingest = _edit_owning_a_fact(rt)
    skill, adapter = _skill(rt)
    # What a kill right after the commit leaves on disk: the rows say reverted, nothing else moved.
    rt.engine.history.mark_reverted(edit.id)
    rt.engine.history.mark_reverted(skill.id)
    rt.close()

    again = tiny_runtime(tmp_path)
    assert again.engine.applied() == []
    assert again.engine.host.fingerprint() == base
    assert again.memory.store.ingest_ids() == []
    assert not list((tmp_path / "memory" / "ingests").glob(f"{ingest}.*"))
    assert again.skills.list() == [] and not adapter.exists()
    again.close()
