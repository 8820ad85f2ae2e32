"""Scores, AP/BWT arithmetic, and SSR's parsing and diversity selection."""

from __future__ import annotations

import random

import numpy as np
import pytest

from adapters import Example
from adapters.metrics import average_performance, backward_transfer, exact_match, rouge_l
from adapters.rehearsal import icl_prompts, parse_continuation, select_diverse


def test_scores():
    assert exact_match(" Positive.", "positive") == 1.0
    assert rouge_l("the cat sat", "the cat sat") == 1.0
    assert rouge_l("the cat", "the big cat") == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))
    assert rouge_l("", "x") == 0.0


def test_ap_and_bwt():
    matrix = [[80, 10, 0], [60, 70, 5], [50, 65, 90]]
    assert average_performance(matrix) == pytest.approx((50 + 65 + 90) / 3)
    assert backward_transfer(matrix) == pytest.approx(((50 - 80) + (65 - 70)) / 2)


def test_icl_prompts_are_two_shot_and_end_in_input():
    demos = [Example(f"x{i}", f"y{i}") for i in range(4)]
    prompts = icl_prompts("Do it.", demos, 50, random.Random(0))
    assert len(prompts) == 12 and len(set(prompts)) == 12
    assert prompts[0].startswith("Do it.\n\nInput: ") and prompts[0].endswith("\n\nInput:")
    assert prompts[0].count("Output:") == 2


def test_parse_continuation():
    assert parse_continuation(" new text\nOutput: its label\n\nInput: more") == Example("new text", "its label")
    assert parse_continuation(" an input but no output\nthen rambling", one_line=True) == Example("an input but no output", "")
    assert parse_continuation(" line one\nline two\n\nrambling") == Example("line one\nline two", "")
    assert parse_continuation(" x\nOutput: y") is None
    assert parse_continuation("   \nOutput: y") is None


def test_select_diverse_covers_every_cluster():
    centres = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]}
    rng = np.random.default_rng(0)
    examples = [Example(f"{k}{i}", "y") for k in "aabc" * 3 for i in range(3)]
    table = {ex.input: np.array(centres[ex.input[0]]) + 0.05 * rng.standard_normal(3) for ex in examples}
    chosen = select_diverse(lambda texts: np.stack([table[t] for t in texts]), examples, 6, 3)
    assert len(chosen) == 6
    assert {ex.input[0] for ex in chosen} == {"a", "b", "c"}
