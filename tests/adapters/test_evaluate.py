"""`palimpsest eval skills` end to end on a tiny model and a task folder in SSR's format."""

from __future__ import annotations

import json

import pytest

from serving.cli import main
from tests.helpers.models import tiny_tokenizer
from tests.helpers.skills import reverse_examples


def _write_task(root, name: str, instruction: str, seed: int) -> None:
    for split, n in (("train.smp01", 24), ("train.smp001", 4), ("eval", 6)):
        rows = [
            {"id": f"{name}-{i}", "input": ex.input, "output": ex.output, "full_prompt": f"{instruction}\n\n{ex.input}"}
            for i, ex in enumerate(reverse_examples(n, seed=seed + len(split)))
        ]
        (root / f"{name}.{split}.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_strategies_report_ap_bwt_and_trp(skill_llama, tmp_path):
    model_dir, tasks, out = tmp_path / "model", tmp_path / "tasks", tmp_path / "report.json"
    skill_llama.save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    tasks.mkdir()
    _write_task(tasks, "one", "to", 0)
    _write_task(tasks, "two", "of", 100)
    code = main([
        "eval", "skills", "--tasks", str(tasks), "--order", "one,two", "--strategy", "none,replay,consolidation",
        "--model", str(model_dir), "--n-train", "16", "--n-eval", "4", "--epochs", "1", "--batch-size", "8",
        "--rr", "1.0", "--low-rr", "0.25", "--consolidation-steps", "1", "--replay-per-skill", "8", "--out", str(out),
    ])
    assert code == 0
    report = json.loads(out.read_text())
    assert [t["metric"] for t in report["tasks"]] == ["rouge_l", "rouge_l"] and len(report["before"]) == 2
    none, replay, consolidation = (report["strategies"][f"sequential+{s}"] for s in ("none", "replay", "consolidation"))
    for result in (none, replay, consolidation):
        first, second = result["scores"]
        assert len(first) == 1 and len(second) == 2  # each stage scores the tasks learned so far
        assert result["bwt"] == pytest.approx(second[0] - first[0], abs=0.01)
        assert result["ap"] == pytest.approx(sum(second) / 2, abs=0.01)
    # 16 new examples per task; stage two replays 16 (RR 1) or 4 (RR 0.25) plus one replay-only batch of 8
    assert none["trp"] == 0.0
    assert replay["trp"] == pytest.approx(100 * 16 / 32, abs=0.1)
    assert consolidation["trp"] == pytest.approx(100 * (4 + 8) / 32, abs=0.1)


def test_merges_cross_strategies_and_a_run_resumes_from_its_checkpoint(skill_llama, tmp_path):
    model_dir, tasks = tmp_path / "model", tmp_path / "tasks"
    skill_llama.save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    tasks.mkdir()
    _write_task(tasks, "one", "to", 0)
    _write_task(tasks, "two", "of", 100)
    common = ["eval", "skills", "--tasks", str(tasks), "--order", "one,two", "--strategy", "none",
              "--merge", "sequential,parallel", "--orthogonal", "0,0.5", "--model", str(model_dir), "--n-train", "16", "--n-eval", "4",
              "--epochs", "1", "--batch-size", "8"]
    whole = tmp_path / "whole.json"
    assert main([*common, "--out", str(whole)]) == 0
    slices = []
    for _ in range(8):  # each slice runs one stage, then its time is up
        out = tmp_path / f"slice{len(slices)}.json"
        assert main([*common, "--checkpoint", str(tmp_path / "ckpt"), "--max-minutes", "1e-6", "--out", str(out)]) == 0
        slices.append(json.loads(out.read_text()))
    assert [s["complete"] for s in slices] == [False] * 7 + [True]
    assert slices[0]["strategies"]["sequential+none"]["scores"] == slices[1]["strategies"]["sequential+none"]["scores"][:1]
    expected = json.loads(whole.read_text())["strategies"]
    for key in ("sequential+none", "parallel+none", "sequential+none+olora0.5", "parallel+none+olora0.5"):
        assert slices[-1]["strategies"][key]["scores"] == expected[key]["scores"]
        assert len(expected[key]["ap_curve"]) == 2
    plain, olora = expected["sequential+none"]["overlap"], expected["sequential+none+olora0.5"]["overlap"]
    assert plain[0] is None and olora[1] < plain[1]
