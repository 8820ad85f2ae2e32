"""Skill validation, output-only loss masks, the replay plan's arithmetic, TRP and the store."""

from __future__ import annotations

import random

import pytest

from adapters import Example, RehearsalStore, Skill, SkillConfig, SkillConfigError, SkillDataError
from adapters.data import IGNORE_INDEX, encode, examples_from_dicts
from adapters.replay import NEW, plan_batches, replay_counts, sample_record, total_replay_percentage
from tests.helpers.models import tiny_tokenizer
from tests.helpers.skills import reverse_examples


@pytest.mark.parametrize(
    "name, examples, message",
    [
        ("s", [], "no examples"),
        ("s", [Example("cat", "dog"), Example("dog", "  ")], "empty output"),
        ("bad name!", [Example("cat", "dog")], "not valid"),
    ],
)
def test_bad_skills_are_refused(name, examples, message):
    with pytest.raises(SkillDataError, match=message):
        Skill(name, examples)


def test_rows_need_string_outputs():
    with pytest.raises(SkillDataError, match="output"):
        examples_from_dicts([{"input": "x"}])
    assert examples_from_dicts([{"output": "y"}]) == [Example("", "y")]


def test_config_validation_names_the_setting():
    with pytest.raises(SkillConfigError, match="rank"):
        SkillConfig(rank=0)
    with pytest.raises(SkillConfigError, match="merge_alpha"):
        SkillConfig(merge_alpha=1.5)


def test_loss_is_on_the_answer_and_its_end_only():
    tok = tiny_tokenizer()
    enc = encode(tok, "to", Example("cat dog", "dog cat"), max_length=64)
    answer = [t for t in enc.labels if t != IGNORE_INDEX]
    assert answer == tok("dog cat", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert enc.input_ids[-len(answer):] == answer
    short = encode(tok, "to", Example("cat dog " * 40, "dog cat"), max_length=16)
    assert len(short.input_ids) == 16 and [t for t in short.labels if t != IGNORE_INDEX] == answer


def test_plan_mixes_replay_at_the_ratio_and_splits_it_evenly():
    config = SkillConfig(epochs=2, batch_size=8, replay_ratio=0.5, consolidation_steps=3)
    plan = plan_batches(40, {"a": 5, "b": 50}, config, random.Random(0), length=lambda s, i: i)
    new, replay = replay_counts(plan)
    assert (new, replay) == (80, 40 + 24)
    assert total_replay_percentage(new, replay) == 80.0
    sources = [s for batch in plan for s, _ in batch if s != NEW]
    assert sources.count("a") == sources.count("b")
    assert all(s != NEW for batch in plan[-3:] for s, _ in batch)
    assert sorted(i for batch in plan[:8] for s, i in batch if s == NEW) == list(range(40))  # epoch 1: 60 items


def test_plan_without_sources_has_no_replay_and_min_steps_adds_passes():
    plan = plan_batches(10, {}, SkillConfig(replay_ratio=1.0, consolidation_steps=5, batch_size=4, min_steps=7), random.Random(0))
    assert replay_counts(plan) == (30, 0)
    assert len(plan) == 9
    assert total_replay_percentage(0, 0) == 0.0


def test_store_keeps_demos_only_without_permission(tmp_path):
    skill = Skill("rev", reverse_examples(30), "to")
    store = RehearsalStore(tmp_path)
    store.put(sample_record(skill, keep_data=True, n_keep=25, n_demos=5))
    private = sample_record(Skill("priv", reverse_examples(30, seed=1)), keep_data=False, n_keep=25, n_demos=5)
    store.put(private)
    again = RehearsalStore(tmp_path)
    assert {r.name for r in again.records()} == {"rev", "priv"}
    assert len(again.get("rev").replay_examples()) == 25
    assert again.get("priv").samples == [] and again.get("priv").replay_examples() == private.demos
    assert [r.name for r in again.replay_sets(exclude="rev")] == ["priv"]
    again.remove("rev")
    assert again.get("rev") is None
