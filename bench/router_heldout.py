"""Build a held-out router set from the public data, for ``palimpsest eval router --cases``.

    python bench/router_heldout.py --data ../shared/data --seed 34 > /tmp/router_heldout_34.jsonl

Nothing from the data is committed; the set is drawn each time (same seed, same set):
- ``--edits`` CounterFact statements ("<prompt> <new object>.", label edit, with the true object and
  the prompt, so ``eval router`` relabels the ones the model does not state as memory);
- the invented statements below (label memory), written for this set and not tuned on;
- ``--documents`` passages from 2Wiki's and MuSiQue's corpora (label memory);
- one two-example set from each TRACE task (label skill).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

INVENTED = [
    "Marisol Okafor-Lindqvist is a citizen of New Zealand.",
    "The headquarters of Brannock Tidewell is in Rotterdam.",
    "Teodor Vashti plays the cello.",
    "Quenby Aldous, a native of Tasmania.",
    "Pellam Road Collective performs folk music.",
    "Jorun Halvesen is employed by the Royal Bank of Scotland.",
    "The mother tongue of Ines Corvath is Portuguese.",
    "Harlan Steyne-Abbott plays as a goalkeeper.",
    "Velmora Systems was founded by Adaeze Norquist.",
    "Cassian Dreyfort died in Montevideo.",
]
INVENTED_FACTS = [{"subject": "Orsolya Trent", "relation": "works as", "object": "a cartographer"}]


def cases(data: Path, seed: int, edits: int, documents: int) -> list[dict]:
    """The cases, in a fixed order: edits, invented statements and facts, documents, skills."""
    rng = random.Random(seed)
    counterfact = json.loads((data / "editing/counterfact/counterfact-edit.json").read_text())
    out = [{"update": {"text": f"{r['prompt']} {r['target_new']}."}, "label": "edit",
            "true_object": r["ground_truth"], "prompt": r["prompt"]}
           for r in rng.sample(counterfact[5000:], edits)]
    out += [{"update": {"text": text}, "label": "memory"} for text in INVENTED]
    out += [{"update": {"fact": fact}, "label": "memory"} for fact in INVENTED_FACTS]
    corpora = [data / "hipporag/main/reproduce/dataset/2wikimultihopqa_corpus.json",
               data / "hipporag/legacy/data/musique_train_corpus.json"]
    for i, path in enumerate(corpora):
        passages = json.loads(path.read_text())
        n = documents // 2 + (documents % 2 if i == 0 else 0)
        out += [{"update": {"text": p["text"]}, "label": "memory"} for p in rng.sample(passages, n)]
    for task in sorted((data / "skills/trace_500").iterdir()):
        rows = json.loads((task / "train.json").read_text())
        examples = [{"input": r["prompt"], "output": r["answer"]} for r in rng.sample(rows, 2)]
        out.append({"update": {"name": f"trace-{task.name.lower()}", "examples": examples}, "label": "skill"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=34)
    parser.add_argument("--edits", type=int, default=16, help="CounterFact statements")
    parser.add_argument("--documents", type=int, default=7, help="2Wiki and MuSiQue passages")
    args = parser.parse_args()
    for case in cases(args.data, args.seed, args.edits, args.documents):
        print(json.dumps(case))


if __name__ == "__main__":
    main()
