"""``palimpsest eval updates`` end to end on the tiny Llama, on an invented MQuAKE-format fixture."""

from __future__ import annotations

import json

import pytest

from serving.cli import build_parser
from serving.evaluation.updates import CHANGED_TWICE, Question, evaluate, first_sentence, rewrites_of, unrelated_of
from serving.evaluation.updates import load_changes
from tests.helpers.engine import tiny_runtime


def _rewrite(prompt: str, subject: str, new: str, true: str) -> dict:
    return {"prompt": prompt, "subject": subject, "target_new": {"str": new}, "target_true": {"str": true},
            "question": f"Q: {prompt.format(subject)}?"}


def _hop(question: str, answer: str, *aliases: str) -> dict:
    return {"question": question, "answer": answer, "answer_alias": list(aliases)}


CASES = [
    {
        "requested_rewrite": [
            _rewrite("{} is located in", "Quillon Bay", "Merovia", "Estel"),
            _rewrite("The capital of {} is", "Merovia", "Doravik", "Lemmington"),
        ],
        "questions": ["What is the capital of the country where Quillon Bay is located?"],
        "new_answer": "Doravik", "new_answer_alias": ["Doravik City"],
        "single_hops": [_hop("Where is Quillon Bay located?", "Estel")],
        "new_single_hops": [_hop("Where is Quillon Bay located?", "Merovia", "Merovian Republic"),
                            _hop("What is the capital of Merovia?", "Doravik")],
    },
    {
        "requested_rewrite": [
            _rewrite("{} works for", "Bruno Kessa", "Harlan Museum", "Orsk Lighthouse"),
            _rewrite("{} was founded by", "Harlan Museum", "Ida Marrow", "Tomas Rell"),
        ],
        "questions": ["Who founded the employer of Bruno Kessa?"],
        "new_answer": "Ida Marrow", "new_answer_alias": [],
        "single_hops": [_hop("Who does Bruno Kessa work for?", "Orsk Lighthouse")],
        "new_single_hops": [_hop("Who does Bruno Kessa work for?", "Harlan Museum"),
                            _hop("Who founded Harlan Museum?", "Ida Marrow")],
    },
    {
        "requested_rewrite": [_rewrite("{} plays", "Alice Vantor", "Cello", "Piano")],
        "questions": ["Which instrument does Alice Vantor play?"],
        "new_answer": "Cello", "new_answer_alias": [],
        "single_hops": [_hop("Which instrument does Alice Vantor play?", "Piano")],
        "new_single_hops": [_hop("Which instrument does Alice Vantor play?", "Cello")],
    },
]
"""Two cases to edit and a third whose single hop is the unrelated question (all invented)."""


@pytest.fixture
def runtime(tmp_path):
    rt = tiny_runtime(tmp_path)
    yield rt
    rt.close()


def test_questions_come_from_the_new_hops_and_hits_are_whole_words():
    rewrites = rewrites_of(CASES[:1])
    assert [w.statement for w in rewrites] == ["Quillon Bay is located in Merovia.", "The capital of Merovia is Doravik."]
    assert rewrites[0].question.text == "Where is Quillon Bay located?"
    assert rewrites[0].question.expected == ["Merovia", "Merovian Republic"]
    question = Question("q", ["Merovia", "au"])
    assert question.hit("It is in merovia.") and question.hit("AU")
    assert not question.hit("It is in Merovian lands because") and not question.hit("Australia")


def test_unrelated_questions_name_no_edited_subject_and_zero_means_none():
    rewrites = rewrites_of(CASES[:2])
    assert unrelated_of(CASES, rewrites, 5) == ["Which instrument does Alice Vantor play?"]
    assert unrelated_of(CASES, rewrites, 0) == []


def test_evaluation_runs_end_to_end_and_comes_back_to_base(runtime, tmp_path):
    records = tmp_path / "records.jsonl"
    with records.open("w") as out:
        report = evaluate(runtime, CASES, n=2, configs=("memory", "edit"), unrelated=1, max_tokens=3,
                          changed_twice="auto", records=out)
    assert set(report["configs"]) == {"memory", "edit"}
    for route, result in report["configs"].items():
        assert result["back_to_base"], (route, result)
        for key in ("single_hop_hit_rate", "multi_hop_rate", "locality", "locality_first_sentence"):
            assert 0.0 <= result[key] <= 1.0, (route, key, result[key])
        assert result["locality_first_sentence"] >= result["locality"]
        assert result["n"] == {"rewrites": 4, "multi_hop": 2, "unrelated": 1}
        assert sum(result["routes"].values()) == 4 and result["seconds_per_update"] > 0
    assert report["configs"]["memory"]["routes"] == {"memory": 4}
    assert report["configs"]["edit"]["routes"] == {"edit": 4}
    twice = report["changed_twice"]
    assert twice["back_to_base"] and 0.0 <= twice["newest"] <= 1.0 and 0.0 <= twice["after_revert"] <= 1.0
    assert sum(twice["routes"].values()) == 3 * len(CHANGED_TWICE)
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert {"question", "expected", "answer", "hit"} <= set(rows[0])
    assert {r["config"] for r in rows} >= {"base", "memory", "edit", "changed_twice:auto"}
    assert runtime.engine.host.fingerprint() == runtime.engine.base_fingerprint


def test_the_first_sentence_is_what_ends_at_the_first_stop():
    assert first_sentence("Paris is the capital. It has 2 million people.") == "Paris is the capital."
    assert first_sentence("  No stop here ") == "No stop here"
    assert first_sentence("Dr. Who? Yes.") == "Dr."


def test_the_command_is_registered():
    args = build_parser().parse_args(["eval", "updates", "--data", "m.json", "--configs", "memory,edit"])
    assert args.module == "serving.evaluation.updates" and args.configs == "memory,edit"
    assert args.changed_twice == "auto" and args.max_tokens == 24 and args.extractor == "rule"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "updates", "--data", "m.json", "--configs", "skill"])


def test_changed_twice_cases_come_from_a_file_and_a_bad_line_is_refused(tmp_path):
    good = tmp_path / "changes.jsonl"
    good.write_text(json.dumps({"subject": "Odile Braska", "objects": ["Port Averly", "Lunsford", "Ebbmoor"],
                                "statement": "{subject} lives in {object}.", "question": "Where does {subject} live?"})
                    + "\n\n" + json.dumps({"subject": "Kasimir Vell", "objects": ["A Co", "B Co", "C Co"]}) + "\n")
    args = build_parser().parse_args(["eval", "updates", "--data", "m.json", "--changed-twice-cases", str(good)])
    first, second = load_changes(args.changed_twice_cases)
    assert first.statement.format(subject=first.subject, object=first.objects[2]) == "Odile Braska lives in Ebbmoor."
    assert second.question.format(subject=second.subject) == "Who does Kasimir Vell work for?"
    worded = tmp_path / "worded.jsonl"
    worded.write_text(json.dumps({"subject": "Oskar Tell", "objects": ["Marlow", "Greyport", "Edda"],
                                  "statements": ["{subject} lives in {object}.", "{subject} moved to {object}.",
                                                 "{subject} relocated to {object}."]}) + "\n")
    [change] = load_changes(worded)
    assert [change.update(step) for step in (1, 2)] == ["Oskar Tell moved to Greyport.", "Oskar Tell relocated to Edda."]
    for bad in ({"subject": "X", "objects": ["A", "B"]}, {"subject": "X", "objects": ["A", "B", "C"], "statement": "{subject}."},
                {"objects": ["A", "B", "C"]}, {"subject": "X", "objects": ["A", "B", "C"], "statements": ["{subject} is {object}."]}):
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps(bad) + "\n")
        with pytest.raises(SystemExit):
            build_parser().parse_args(["eval", "updates", "--data", "m.json", "--changed-twice-cases", str(path)])
