"""``palimpsest eval qa`` on the tiny Llama, over the invented memory world in HotpotQA format."""

from __future__ import annotations

import json

import pytest

from memory.evaluate import load_corpus
from serving.cli import build_parser
from serving.evaluation.qa import CONFIGS, answer_f1, cited_passages, evaluate, ingest, load_items, score_answer
from tests.helpers.engine import tiny_runtime
from tests.helpers.memory_world import PASSAGES, TWO_HOP

TITLES = {key: key.capitalize() for key in PASSAGES}


def _question(text: str, answer: str, gold: set[str], distractors: set[str]) -> dict:
    """A HotpotQA-format record: supporting facts name the gold titles; context shows gold and distractors."""
    return {"question": text, "answer": answer, "supporting_facts": [[TITLES[k], 0] for k in sorted(gold)],
            "context": [[TITLES[k], [PASSAGES[k]]] for k in sorted(gold | distractors)]}


QUESTIONS = [
    _question(TWO_HOP[0][0], "Doravik", TWO_HOP[0][1], {"kessa"}),
    _question(TWO_HOP[1][0], "Ida Marrow", TWO_HOP[1][1], {"orsk"}),
]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps({TITLES[k]: [text] for k, text in PASSAGES.items()}))
    return path


def test_f1_em_and_contains_follow_squad_normalisation():
    assert answer_f1("The Harlan Museum!", "harlan museum") == 1.0
    assert answer_f1("It was Ida Marrow", "Ida Marrow") == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    assert answer_f1("Doravik", "Lemmington") == 0.0 and answer_f1("", "Doravik") == 0.0
    scores = score_answer("It is in Doravik, the capital.", ["Doravik City", "Doravik"])
    assert scores["em"] == 0.0 and scores["contains"] == 1.0 and scores["f1"] == pytest.approx(2 * 0.2 / 1.2)
    assert score_answer("an apple", ["Apple"]) == {"f1": 1.0, "em": 1.0, "contains": 1.0}
    assert score_answer("Doraviks", ["Doravik"])["contains"] == 0.0
    assert cited_passages([{"type": "passage", "id": "c3#1"}, {"type": "fact", "id": "f1"},
                           {"type": "passage", "id": "c4"}]) == {"c3", "c4"}


def test_subset_keeps_the_questions_passages_and_maps_the_supporting_ones(corpus_file):
    corpus = load_corpus(corpus_file)
    items, documents = load_items(QUESTIONS, corpus, subset=False)
    assert len(documents) == len(PASSAGES)
    items, documents = load_items(QUESTIONS, corpus, subset=True)
    texts = {d.id: d.text for d in documents}
    assert sorted(t.split("\n")[0] for t in texts.values()) == sorted(
        TITLES[k] for k in {"vantor", "bluemill", "kessa", "harlan", "orsk"})
    assert {texts[i].split("\n")[0] for i in items[1].supporting} == {"Bluemill", "Harlan"}
    assert items[0].answers == ["Doravik"]


def test_evaluation_asks_each_question_three_ways_and_scores_the_citations(tmp_path, corpus_file):
    runtime = tiny_runtime(tmp_path / "home")
    try:
        items, documents = load_items(QUESTIONS, load_corpus(corpus_file), subset=False)
        ingest(runtime, documents)
        assert runtime.memory.stats()["passages"] == len(PASSAGES)
        records = tmp_path / "records.jsonl"
        with records.open("w") as out:
            report = evaluate(runtime, items, ("default", "short"), max_tokens=3, records=out)
        gate_only = evaluate(runtime, items[:1], max_tokens=2, configs=("gate",))
    finally:
        runtime.close()
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(rows) == 2 * len(QUESTIONS) * len(CONFIGS)
    assert {r["config"] for r in rows} == set(CONFIGS) and {r["prompt"] for r in rows} == {"default", "short"}
    for prompt in ("default", "short"):
        result = report[prompt]
        assert result["closed_book"]["grounded"] == 0.0 and result["closed_book"]["supporting_recall"] == 0.0
        assert result["forced"]["grounded"] == 1.0
        assert result["forced"]["supporting_recall"] > 0  # the real embedder finds a supporting passage
        assert set(result["ratios"]) == {"gate/closed_book", "forced/closed_book"}
        for config in CONFIGS:
            assert 0.0 <= result[config]["f1"] <= 1.0 and result[config]["n"] == len(QUESTIONS)
    assert set(gate_only["default"]) == {"gate"} and gate_only["default"]["gate"]["n"] == 1  # no ratios
    forced = [r for r in rows if r["config"] == "forced"]
    assert all(r["cited"] and set(r["supporting"]) <= {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"} for r in forced)


def test_the_command_is_registered():
    args = build_parser().parse_args(["eval", "qa", "--questions", "q.json", "--corpus", "c.json", "--n", "30",
                                      "--prompts", "default,short", "--threads", "1"])
    assert args.module == "serving.evaluation.qa" and args.prompts == "default,short"
    assert args.max_tokens == 32 and args.extractor == "rule" and not args.subset and args.n == 30
    assert args.configs == "closed_book,gate,forced"
    for bad in (["--prompts", "terse"], ["--configs", "gate,open_book"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["eval", "qa", "--questions", "q.json", "--corpus", "c.json", *bad])
