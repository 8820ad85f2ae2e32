"""``EditService.edit``: single edits keep the keys of the earlier applied edits (the key store),
plain ROME on request, and reverts stay exact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from editing.request import EditRequest
from serving.core.engine import Engine
from serving.core.generation import SamplingParams
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.services import Runtime
from tests.helpers.models import tiny_llama, tiny_tokenizer

FRANCE = EditRequest("the capital of france is", "france", "rome")
ITALY = EditRequest("the capital of italy is", "italy", "paris")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    host = ModelHost(tiny_llama(), tiny_tokenizer(), "tiny", torch.device("cpu"))
    rt = Runtime(Engine(Settings(home=tmp_path, guard=False, edit_covariance="identity", edit_chat_context=False), host))
    yield rt
    rt.close()


def test_single_edits_keep_the_applied_edits_keys_and_revert_exactly(runtime):
    edits, host = runtime.edits, runtime.engine.host
    base = host.fingerprint()
    first = edits.edit(FRANCE, extra={"memory_ingest_id": "m1"}).entry
    assert first.details["solve"] == "keep" and not first.details["kept_keys"]  # nothing earlier to keep
    assert first.details["memory_ingest_id"] == "m1"
    after_first = host.fingerprint()
    second = edits.edit(ITALY).entry
    assert second.details["kept_keys"]
    steps = second.details["service_seconds"]
    assert set(steps) == {"snapshot", "statistics", "p_before", "edit", "apply_and_guard", "p_after"}
    assert set(second.details["seconds_by_step"]) == {"contexts_and_key", "value", "solve", "check"}
    runtime.engine.revert(second.id)
    assert host.fingerprint() == after_first
    runtime.engine.revert(first.id)
    assert host.fingerprint() == base
    # The reverted edits' keys leave the protection: the next edit has none to keep.
    again = edits.edit(ITALY).entry
    assert not again.details["kept_keys"]
    plain = edits.edit(FRANCE, solve="rome").entry
    assert plain.details["solve"] == "rome" and not plain.details["kept_keys"]
    for entry in (plain, again):
        runtime.engine.revert(entry.id)
    assert host.fingerprint() == base


def test_snapshots_share_the_sampled_contexts(runtime, monkeypatch):
    """The prefixes are sampled once for the live model, not once per edit's snapshot copy."""
    import editing.contexts as contexts

    calls = []
    real = contexts._sample
    monkeypatch.setattr(contexts, "_sample", lambda *a: calls.append(1) or real(*a))
    for request in (FRANCE, ITALY, FRANCE):
        runtime.edits.edit(request)
    assert len(calls) == 1


def _gated_layers(runtime) -> dict[int, int]:
    """Per gated layer, how many update terms its hook holds."""
    return {layer: hook.state.left.shape[1] for layer, hook in runtime.edits.gate._hooks.items() if hook.state is not None}


def _mlp_out(host, layer: int, key: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return host.model.get_submodule(f"model.layers.{layer}.mlp.down_proj")(key)


def test_the_gate_follows_applies_reverts_and_a_restart(runtime, tmp_path):
    """The applied edits are gated: the written key gets the update, a key unlike it the base output;
    a revert takes the edit out of the gate, a new engine on the same home puts it back."""
    edits, host = runtime.edits, runtime.engine.host
    first = edits.edit(FRANCE).entry
    layer = first.details["layers"][0]
    assert _gated_layers(runtime) == {layer: 1}
    written = edits.keys.load(first.id)[layer][:, 0]
    left, right = runtime.engine.history.factors(first.id)[f"model.layers.{layer}.mlp.down_proj.weight"]
    base_w = host.base_value(f"model.layers.{layer}.mlp.down_proj.weight")
    assert torch.allclose(_mlp_out(host, layer, written), (base_w + left @ right) @ written, atol=1e-4)
    unit = written / written.norm()
    other = torch.randn(written.shape[0])
    other = other - (other @ unit) * unit
    unlike = (0.1 * unit + 0.995 * other / other.norm()) * written.norm()  # cosine 0.1 (C = I here)
    assert torch.allclose(_mlp_out(host, layer, unlike), base_w @ unlike, atol=1e-4)
    assert not torch.allclose((base_w + left @ right) @ unlike, base_w @ unlike, atol=1e-4)  # the leak it removes

    second = edits.edit(ITALY).entry
    assert _gated_layers(runtime) == {layer: 2}
    runtime.engine.revert(first.id)
    assert _gated_layers(runtime) == {layer: 1}

    settings = runtime.engine.settings
    again = Runtime(Engine(settings, ModelHost(tiny_llama(), tiny_tokenizer(), "tiny", torch.device("cpu"))))
    try:
        assert _gated_layers(again) == {layer: 1}
        again.engine.revert(second.id)
        assert _gated_layers(again) == {}
    finally:
        again.close()


def test_the_gate_can_be_switched_off(tmp_path):
    host = ModelHost(tiny_llama(), tiny_tokenizer(), "tiny", torch.device("cpu"))
    rt = Runtime(Engine(Settings(home=tmp_path, guard=False, edit_covariance="identity", edit_chat_context=False,
                                 edit_gate=False), host))
    try:
        assert rt.edits.gate is None
        entry = rt.edits.edit(FRANCE).entry
        layer = entry.details["layers"][0]
        left, right = rt.engine.history.factors(entry.id)[f"model.layers.{layer}.mlp.down_proj.weight"]
        key = torch.randn(right.shape[1])
        base_w = host.base_value(f"model.layers.{layer}.mlp.down_proj.weight")
        assert torch.allclose(_mlp_out(host, layer, key), (base_w + left @ right) @ key, atol=1e-4)
    finally:
        rt.close()


def test_a_gate_ramp_that_does_not_rise_is_a_setting_error(tmp_path):
    from serving.core.errors import InvalidSettingError

    host = ModelHost(tiny_llama(), tiny_tokenizer(), "tiny", torch.device("cpu"))
    engine = Engine(Settings(home=tmp_path, guard=False, edit_gate_low=0.5, edit_gate_high=0.4), host)
    try:
        with pytest.raises(InvalidSettingError, match="edit_gate_low/high"):
            Runtime(engine)
    finally:
        engine.close()


def test_a_conversation_about_no_edited_subject_is_answered_outside_the_edits(tmp_path):
    """The chat service decodes a conversation that names no edited subject (and is grounded in no
    fact) outside the edits: its answer is the unedited model's, even where the gate lets the
    edit's update through; one that names the subject keeps the edit."""
    host = ModelHost(tiny_llama(initializer_range=0.3), tiny_tokenizer(), "tiny", torch.device("cpu"))
    settings = Settings(home=tmp_path, guard=False, edit_covariance="identity", edit_chat_context=False,
                        edit_gate_low=0.0, edit_gate_high=0.01)  # a gate that passes most keys
    rt = Runtime(Engine(settings, host))
    greedy = SamplingParams(6, 0.0)

    def answer(question: str, edits: bool | None = None) -> tuple[str, bool]:
        ids, params, _ = rt.chat.chat_ids([{"role": "user", "content": question}], greedy)
        params = params if edits is None else replace(params, edits=edits)
        return "".join(p.text for p in rt.chat.pieces(ids, params)), params.edits

    try:
        other = "the capital of italy is rome and the capital of spain is"
        before = answer(other)
        assert before[1] and rt.edits.subjects == ()
        rt.edits.edit(FRANCE)
        assert rt.edits.subjects == ("france",)
        assert answer(other) == (before[0], False)
        assert answer(other, edits=True)[0] != before[0], "the edit changes no answer: the test proves less"
        assert answer("what is the capital of france")[1]
    finally:
        rt.close()


def test_the_fast_value_schedule_takes_at_most_twelve_steps(tmp_path):
    host = ModelHost(tiny_llama(), tiny_tokenizer(), "tiny", torch.device("cpu"))
    settings = dict(home=tmp_path, guard=False, edit_covariance="identity", edit_chat_context=False)
    steps = {}
    for schedule in ("thorough", "fast"):
        rt = Runtime(Engine(Settings(**settings, edit_value_schedule=schedule), host))
        entry = rt.edits.edit(FRANCE).entry
        steps[schedule] = entry.details["steps"]
        rt.engine.revert(entry.id)
        rt.close()
    assert steps["fast"] <= 12 < steps["thorough"]


@pytest.mark.parametrize("retry", [True, False])
def test_the_repetition_retry_setting_decides_whether_an_edit_is_checked(tmp_path, monkeypatch, retry):
    import editing.rome as rome

    tok = tiny_tokenizer()
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    host = ModelHost(tiny_llama(), tok, "tiny", torch.device("cpu"))
    monkeypatch.setattr(rome, "repeats", lambda _text: True)  # every answer looks collapsed
    rt = Runtime(Engine(Settings(home=tmp_path, guard=False, edit_covariance="identity", edit_chat_context=False,
                                 edit_value_schedule="fast", edit_repetition_retry=retry), host))
    try:
        details = rt.edits.edit(FRANCE).entry.details
        assert ("repetition" in details) == retry
        if retry:
            assert details["repetition"]["kept"] == "first" and details["repetition"]["clamp"] == 1.0
    finally:
        rt.close()
