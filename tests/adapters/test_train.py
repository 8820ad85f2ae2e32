"""LoRA skill training on the tiny random Llama: it learns, leaves the model alone, and its
delta is exactly the adapter's effect."""

from __future__ import annotations

import pytest
import torch

from adapters import ReplaySet, SkillConfig, train_skill
from adapters.data import chat_prompt
from tests.helpers.engine import assert_bit_identical, engine_on, snapshot
from tests.helpers.models import tiny_tokenizer
from tests.helpers.skills import reverse_examples

FAST = dict(lr=1e-2, batch_size=8, dropout=0.0)


def _logits(model, tokenizer, text: str) -> torch.Tensor:
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_tiny_model_learns_reverse_and_is_not_mutated(skill_llama, reverse_skill):
    tok = tiny_tokenizer()
    before = snapshot(skill_llama)
    seen = []
    result = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**FAST, epochs=6), progress=lambda f, m: seen.append(f))
    assert_bit_identical(before, snapshot(skill_llama))
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < 0.5 * first, result.losses
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert result.trp == 0.0 and result.replay_seen == 0 and result.new_seen == 6 * 32


def test_delta_reproduces_the_adapter_and_names_plain_parameters(skill_llama, reverse_skill, tmp_path):
    tok = tiny_tokenizer()
    config = SkillConfig(**FAST, epochs=2, targets=("q_proj", "v_proj", "down_proj"))
    result = train_skill(skill_llama, tok, reverse_skill, config, keep_model=True)
    params = dict(skill_llama.named_parameters())
    assert set(result.delta) == {
        f"model.layers.{i}.{m}.weight" for i in range(3) for m in ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj")
    }
    for name, d in result.delta.items():
        assert d.dtype == torch.float32 and d.shape == params[name].shape and d.abs().sum() > 0
    text = chat_prompt(tok, "to", "cat dog paris")
    merged = engine_on(skill_llama, tok, tmp_path)
    merged.apply_delta("skill", "reverse", {"name": "reverse"}, result.delta)
    assert torch.allclose(_logits(merged.host.model, tok, text), _logits(result.model, tok, text), atol=1e-4)


def test_merge_alpha_scales_the_delta(skill_llama, reverse_skill):
    tok = tiny_tokenizer()
    full = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**FAST, epochs=1))
    half = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**FAST, epochs=1, merge_alpha=0.5))
    for name in full.delta:
        torch.testing.assert_close(half.delta[name], 0.5 * full.delta[name])


def test_apply_then_revert_is_bit_identical(skill_llama, reverse_skill, tmp_path):
    tok = tiny_tokenizer()
    engine = engine_on(skill_llama, tok, tmp_path)
    base = snapshot(engine.host.model)
    first = engine.apply_delta("skill", "a", {"name": "a"}, train_skill(skill_llama, tok, reverse_skill, SkillConfig(**FAST, epochs=1)).delta)
    after_first = snapshot(engine.host.model)
    second = engine.apply_delta("skill", "b", {"name": "b"}, train_skill(engine.host.model, tok, reverse_skill, SkillConfig(**FAST, epochs=1, seed=1)).delta)
    engine.revert(second.id)
    assert_bit_identical(after_first, snapshot(engine.host.model))
    engine.revert(first.id)
    assert_bit_identical(base, snapshot(engine.host.model))


def test_replay_and_consolidation_are_counted(skill_llama, reverse_skill):
    tok = tiny_tokenizer()
    old = ReplaySet("old", "of", reverse_examples(10, seed=3))
    config = SkillConfig(**FAST, epochs=1, replay_ratio=0.25, consolidation_steps=2)
    result = train_skill(skill_llama, tok, reverse_skill, config, replay=[old])
    assert (result.new_seen, result.replay_seen) == (32, 8 + 2 * 8)
    assert result.trp == 75.0
    assert len(result.losses) == 5 + 2


def test_ewc_holds_the_update_back(skill_llama, reverse_skill):
    tok = tiny_tokenizer()
    old = ReplaySet("old", "of", reverse_examples(16, seed=3))
    base = dict(**FAST, epochs=2, replay_ratio=0.25)
    free = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**base), replay=[old])
    held = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**base, ewc=True, ewc_lambda=1e4), replay=[old])
    norm = lambda delta: sum(float(d.norm() ** 2) for d in delta.values())
    assert norm(held.delta) < 0.5 * norm(free.delta)


def test_answer_loss_equals_the_full_forward_loss(skill_llama, reverse_skill):
    from adapters.data import collate, encode
    from adapters.loss import answer_loss

    tok = tiny_tokenizer()
    batch = collate([encode(tok, reverse_skill.instruction, ex, 64) for ex in reverse_skill.examples[:6]], 0)
    with torch.no_grad():
        full = skill_llama(**batch).loss
        ours = answer_loss(skill_llama, **batch)
    assert torch.allclose(ours, full, rtol=1e-5, atol=1e-6), (ours, full)


def test_micro_batches_give_the_same_update(skill_llama, reverse_skill):
    tok = tiny_tokenizer()
    config = dict(FAST, epochs=1)
    whole = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**config, max_batch_tokens=4096))
    split = train_skill(skill_llama, tok, reverse_skill, SkillConfig(**config, max_batch_tokens=16))
    assert whole.losses == pytest.approx(split.losses, rel=1e-4)
    for name, d in whole.delta.items():
        assert (d - split.delta[name]).norm() <= 1e-3 * d.norm(), name  # Adam amplifies rounding a little


def test_micro_batches_respect_the_token_budget():
    from adapters.data import Encoded, micro_batches

    items = [Encoded([1] * n, [1] * n) for n in (9, 3, 5, 4, 12)]
    runs = micro_batches(items, 10)
    assert sorted(len(it.input_ids) for run in runs for it in run) == [3, 4, 5, 9, 12]
    assert all(len(run) == 1 or len(run) * max(len(it.input_ids) for it in run) <= 10 for run in runs)
    assert [len(run) for run in runs] == [2, 1, 1, 1]
