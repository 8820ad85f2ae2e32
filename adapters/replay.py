"""Replay: the rehearsal store of learned skills, the replay mix at ratio RR, and TRP."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import SkillConfig
from .data import Example, Skill, SkillDataError

NEW = ""
"""Source name of the skill being learned in a batch plan (replayed skills use their own names)."""


@dataclass
class ReplaySet:
    """Examples of an earlier skill to rehearse, with the instruction they were learned under."""

    name: str
    instruction: str | None
    examples: list[Example]
    raw: bool = False
    """Raw-text passages, replayed with the language-modelling loss."""


@dataclass
class SkillRecord:
    """What the store keeps of one applied skill.

    `samples` holds real examples only when the user allowed keeping data; `demos` (a few real
    pairs) are always kept; `synthetic` holds SSR's self-synthesized rehearsal set.
    """

    name: str
    instruction: str | None
    keep_data: bool
    demos: list[Example]
    samples: list[Example] = field(default_factory=list)
    synthetic: list[Example] = field(default_factory=list)
    entry_id: str | None = None
    n_examples: int = 0
    raw: bool = False

    def replay_examples(self) -> list[Example]:
        """Real samples if kept, else the synthetic set, else the demos."""
        return self.samples or self.synthetic or self.demos

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SkillRecord:
        rows = {k: [Example(**e) for e in data.get(k, [])] for k in ("demos", "samples", "synthetic")}
        rest = {k: v for k, v in data.items() if k not in rows}
        return cls(**rest, **rows)


def sample_record(
    skill: Skill, *, keep_data: bool, n_keep: int, n_demos: int = 20, seed: int = 0
) -> SkillRecord:
    """Pick the demos and (when allowed) a random sample of at most n_keep examples to keep."""
    rng = random.Random(seed)
    order = list(range(len(skill.examples)))
    rng.shuffle(order)
    demos = [skill.examples[i] for i in order[:n_demos]]
    samples = [skill.examples[i] for i in order[:n_keep]] if keep_data else []
    return SkillRecord(skill.name, skill.instruction, keep_data, demos, samples, n_examples=len(skill.examples),
                       raw=skill.raw)


class RehearsalStore:
    """One JSON file per applied skill under `root`; writes are atomic and durable (write, fsync,
    rename, fsync the directory)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def put(self, record: SkillRecord) -> None:
        tmp = self._path(record.name).with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(json.dumps(record.to_json(), ensure_ascii=False))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path(record.name))
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, name: str) -> SkillRecord | None:
        path = self._path(name)
        if not path.exists():
            return None
        return SkillRecord.from_json(json.loads(path.read_text(encoding="utf-8")))

    def remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def records(self) -> list[SkillRecord]:
        return [r for r in (self.get(p.stem) for p in sorted(self.root.glob("*.json"))) if r is not None]

    def replay_sets(self, exclude: str | None = None) -> list[ReplaySet]:
        return [
            ReplaySet(r.name, r.instruction, r.replay_examples(), r.raw)
            for r in self.records()
            if r.name != exclude and r.replay_examples()
        ]


def plan_batches(
    n_new: int,
    replay_sizes: dict[str, int],
    config: SkillConfig,
    rng: random.Random,
    length: Callable[[str, int], int] | None = None,
) -> list[list[tuple[str, int]]]:
    """Batches of (source, index) for one skill's training: the task phase, then consolidation.

    Task phase (config.epochs passes, more to reach config.min_steps): every epoch shows each
    new example once plus round(RR * n_new) replayed ones,
    spread evenly over the earlier skills and shuffled in. Consolidation: `consolidation_steps`
    batches of replay only. Without replay sources both replay parts are empty.
    """
    if n_new < 1:
        raise SkillDataError("nothing to train on: the skill has no examples")
    sources = [name for name, size in replay_sizes.items() if size > 0]
    cursors = {name: _cycler(replay_sizes[name], rng) for name in sources}

    def draw(count: int) -> list[tuple[str, int]]:
        return [(sources[k % len(sources)], next(cursors[sources[k % len(sources)]])) for k in range(count)]

    bs = config.batch_size
    per_epoch = -(-round(n_new * (1 + (config.replay_ratio if sources else 0))) // bs)
    epochs = max(config.epochs, -(-config.min_steps // max(1, per_epoch)))
    batches: list[list[tuple[str, int]]] = []
    for _ in range(epochs):
        items = [(NEW, i) for i in rng.sample(range(n_new), n_new)]
        if sources:
            items += draw(round(config.replay_ratio * n_new))
        rng.shuffle(items)
        batches += _batch(items, bs, rng, length)
    if sources:
        batches += [draw(bs) for _ in range(config.consolidation_steps)]
    return batches


def _batch(
    items: list[tuple[str, int]], bs: int, rng: random.Random, length: Callable[[str, int], int] | None
) -> list[list[tuple[str, int]]]:
    if length is not None:
        window = bs * 8
        items = [it for i in range(0, len(items), window) for it in sorted(items[i : i + window], key=lambda x: length(*x))]
    batches = [items[i : i + bs] for i in range(0, len(items), bs)]
    if length is not None:
        rng.shuffle(batches)
    return batches


def _cycler(size: int, rng: random.Random):
    """Indices 0..size-1 in a fresh random order on each pass."""
    while True:
        yield from rng.sample(range(size), size)


def replay_counts(batches: list[list[tuple[str, int]]]) -> tuple[int, int]:
    """(new samples seen, replayed samples seen) over a plan."""
    new = sum(1 for batch in batches for source, _ in batch if source == NEW)
    return new, sum(len(batch) for batch in batches) - new


def total_replay_percentage(new_seen: int, replay_seen: int) -> float:
    """TRP = 100 * replayed samples seen / new-task samples seen (RR = 1 without consolidation -> 100)."""
    return 100.0 * replay_seen / new_seen if new_seen else 0.0
