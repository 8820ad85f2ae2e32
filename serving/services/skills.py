"""Skills: LoRA training in a background job with replay, then one history entry per skill.

An entry stores the skill's raw task vector tau (low-rank factors) and its merge spec; the engine
weighs every applied skill's tau by the strategies' coefficients (adapters/merge.py), recomputed at
each apply and revert, so reverting any skill leaves exactly the weights of the remaining set."""

from __future__ import annotations

import copy
import logging
import math
import shutil
import threading
from dataclasses import asdict, replace
from typing import Any

from pydantic import BaseModel, Field

from adapters import RehearsalStore, Skill, SkillConfig, SkillConfigError, train_skill
from adapters.data import Example, chat_prompt, examples_from_dicts, text_examples
from adapters.merge import MergeSpec, merge_coefficients
from adapters.orthogonal import adapter_subspaces, mean_overlap
from adapters.rehearsal import SSRConfig, self_synthesized_rehearsal, sentence_embedder
from adapters.replay import sample_record

from serving.core.engine import Engine
from serving.core.errors import ConflictError, InvalidSettingError, NotFoundError, TooLargeError
from serving.core.history import HistoryEntry, LowRank
from serving.core.jobs import Job, Progress

log = logging.getLogger("palimpsest.skills")

DEFAULTS = SkillConfig(replay_ratio=0.2, consolidation_steps=2, min_steps=12)
"""The server's schedule: low replay while learning, then a short replay-only consolidation."""

UPPER_BOUNDS: dict[str, float] = {
    "rank": 256, "alpha": 4096, "lr": 1.0, "weight_decay": 10.0, "batch_size": 256, "max_length": 8192,
    "max_batch_tokens": 65536, "grad_clip": 1e6, "replay_ratio": 100.0, "replay_per_skill": 10_000,
    "ewc_lambda": 1e9, "ewc_batches": 1024, "seed": 2**63 - 1,
    "ssr.n_prompts": 1000, "ssr.samples_per_prompt": 16, "ssr.max_new_tokens": 1024, "ssr.n_select": 1000,
    "ssr.n_clusters": 1000, "ssr.answer_tokens": 1024, "ssr.batch_size": 64, "ssr.temperature": 2.0,
    "ssr.repetition_penalty": 10.0,
}
"""Largest value the server trains with, per setting (``ssr.``: the SSR options); every number must be finite.
The number of optimiser steps is bounded by ``PALIMPSEST_SKILL_MAX_STEPS``."""


class ReplayOptions(BaseModel):
    ratio: float | None = Field(None, description="replayed examples per new one (default 0.2)")
    consolidation_steps: int | None = Field(None, description="replay-only steps after the skill (default 2)")
    keep_data: bool = Field(True, description="keep a sample of the real examples for later replay")
    synthesize: bool | None = Field(None, description="SSR rehearsal set (default: when keep_data is false)")
    ssr: dict[str, Any] = Field(default_factory=dict, description="SSRConfig overrides, e.g. n_prompts")


class SkillService:
    """The rehearsal store and the skills being trained."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.root = engine.settings.home / "skills"
        self.store = RehearsalStore(self.root / "rehearsal")
        self._pending: dict[str, str] = {}
        """Skill name -> the id of the job that trains it."""
        self._lock = threading.Lock()
        self._embed = None
        for record in self.store.records():  # a crash in training, or in a revert after its commit
            if record.entry_id is None or self._status(record.entry_id) != "applied":
                self.store.remove(record.name)
        adapters = self.root / "adapters"
        if adapters.is_dir():
            for folder in adapters.iterdir():
                if self.store.get(folder.name) is None:
                    shutil.rmtree(folder, ignore_errors=True)
        engine.on_revert("skill", self._on_revert)
        engine.mix("skill", lambda entries: merge_coefficients([MergeSpec.from_details(e.details) for e in entries]))

    def _status(self, entry_id: str) -> str | None:
        try:
            return self.engine.history.get(entry_id).status
        except NotFoundError:
            return None

    def _embedder(self):
        if self._embed is None:
            self._embed = sentence_embedder(str(self.engine.settings.embedder))
        return self._embed

    def _on_revert(self, entry: HistoryEntry) -> None:
        """A reverted skill leaves nothing behind: its rehearsal record goes (or this raises and
        nothing changed), then its saved adapter (what a failure keeps goes at the next start)."""
        record = self.store.get(entry.details.get("name", ""))
        if record is not None and record.entry_id == entry.id:
            self.store.remove(record.name)
            shutil.rmtree(self.root / "adapters" / record.name, ignore_errors=True)

    def submit(
        self, name: str, examples: list[dict[str, Any]], instruction: str | None = None,
        replay: ReplayOptions | None = None, training: dict[str, Any] | None = None, text: str | None = None,
    ) -> Job:
        """Check the request, then train in the background; the job's entry is the skill's history entry.

        With ``text`` instead of examples the skill is a domain's raw text, cut into passages of
        ``max_length`` tokens and learned with the language-modelling loss (replaying the earlier
        skills as usual). At most ``PALIMPSEST_SKILL_MAX_EXAMPLES`` examples or passages (413) and
        ``PALIMPSEST_SKILL_MAX_STEPS`` optimiser steps, with every setting finite and within
        ``UPPER_BOUNDS`` (400)."""
        settings = self.engine.settings
        replay = replay or ReplayOptions()
        config = _config(replay, training or {})
        if text is not None and examples:
            raise InvalidSettingError("give either examples or text, not both")
        rows = examples_from_dicts(examples) if text is None else _passages(self.engine.host.tokenizer, text, config)
        if len(rows) > settings.skill_max_examples:
            raise TooLargeError(f"{len(rows)} examples or passages; a skill takes at most {settings.skill_max_examples} "
                                "(PALIMPSEST_SKILL_MAX_EXAMPLES)")
        skill = Skill(name, rows, None if text is not None else instruction, raw=text is not None)
        try:
            ssr_config = SSRConfig(**{"n_select": min(config.replay_per_skill, 50), "seed": config.seed, **replay.ssr})
        except TypeError as exc:  # an unknown SSRConfig field
            raise InvalidSettingError(f"replay.ssr: {exc}") from exc
        _check_bounds(config, ssr_config, len(skill.examples), settings.skill_max_steps)
        with self._lock:
            job_id = self._pending.get(skill.name)
            training_now = job_id is not None and self.engine.jobs.get(job_id).status in ("queued", "running")
            if self.store.get(skill.name) is not None or training_now:
                raise ConflictError(
                    f"a skill named {skill.name!r} is already applied or training; revert it or choose another name"
                )
            job = self.engine.jobs.submit("skill", lambda progress: self._learn(skill, config, replay, ssr_config, progress))
            self._pending[skill.name] = job.id
            return job

    def list(self) -> list[dict[str, Any]]:
        skills = []
        for record in self.store.records():
            entry = self.engine.history.get(record.entry_id) if record.entry_id else None
            skills.append({
                "name": record.name,
                "entry_id": record.entry_id,
                "status": entry.status if entry else "unknown",
                "created_at": entry.created_at if entry else None,
                "instruction": record.instruction,
                "n_examples": record.n_examples,
                "keep_data": record.keep_data,
                "raw": record.raw,
                "rehearsal": "real" if record.samples else "synthetic" if record.synthetic else "demos",
                "rehearsal_size": len(record.replay_examples()),
                "adapter_dir": str(self.root / "adapters" / record.name),
            })
        return skills

    def _learn(
        self, skill: Skill, config: SkillConfig, options: ReplayOptions, ssr_config: SSRConfig, progress: Progress
    ) -> HistoryEntry:
        """The job: train on a private copy, apply the delta, and keep what later replay needs.

        The rehearsal record is saved while the entry is pending, so an applied skill always has
        one; a failure, a cancellation or the regression guard's veto leaves neither record nor adapter."""
        adapter_dir = self.root / "adapters" / skill.name
        try:
            host = self.engine.host
            with host.reading():
                base = copy.deepcopy(host.model)
            tokenizer = host.tokenizer
            replay = self.store.replay_sets(exclude=skill.name) if config.replay_ratio or config.consolidation_steps else []
            synthesize = options.synthesize if options.synthesize is not None else not options.keep_data
            synthesize = synthesize and not skill.raw  # SSR writes instruction pairs, not passages
            earlier = [self.root / "adapters" / r.name for r in self.store.records() if r.name != skill.name]
            past = adapter_subspaces(earlier) if config.orthogonal_lambda else None
            trained = train_skill(
                base,
                tokenizer,
                skill,
                config,
                replay=replay,
                progress=lambda f, m: progress(0.9 * f if synthesize else f, m),
                adapter_dir=adapter_dir,
                keep_model=synthesize,
                copy_model=synthesize,
                orthogonal_to=past,
            )
            record = sample_record(skill, keep_data=options.keep_data, n_keep=config.replay_per_skill, seed=config.seed)
            ssr_stats = None
            if synthesize and len(record.demos) >= 2:
                progress(0.9, "synthesizing rehearsal examples (SSR)")
                ssr = self_synthesized_rehearsal(
                    base, trained.model, tokenizer, skill.instruction, record.demos, self._embedder(), ssr_config,
                )
                record = replace(record, synthetic=ssr.examples)
                ssr_stats = {"generated": ssr.generated, "parsed": ssr.parsed, "kept": len(ssr.examples)}
            trained.model = None
            losses = trained.losses
            details = {
                "name": skill.name,
                "instruction": skill.instruction,
                "n_examples": len(skill.examples),
                "config": asdict(config),
                "merge": asdict(config.merge_spec),
                "overlap": round(mean_overlap(past, trained.factors), 4) if past else None,
                "loss_first": losses[0],
                "loss_last": losses[-1],
                "losses": [round(x, 4) for x in losses[:: max(1, len(losses) // 50)]],
                "train_seconds": round(trained.seconds, 2),
                "new_seen": trained.new_seen,
                "replay_seen": trained.replay_seen,
                "trp": round(trained.trp, 2),
                "replayed_skills": [r.name for r in replay],
                "keep_data": options.keep_data,
                "ssr": ssr_stats,
                "adapter_dir": str(trained.adapter_dir),
                "format": "text" if skill.raw else "examples",
                "probes": [_probe(tokenizer, skill, ex) for ex in skill.examples[:4]],
            }
            summary = f"skill {skill.name}: {len(skill.examples)} examples, loss {losses[0]:.3f} -> {losses[-1]:.3f}"
            task_vector = {name: LowRank(left, right) for name, (left, right) in trained.factors.items()}
            trained.delta = {}
            return self.engine.apply_delta("skill", summary, details, task_vector,
                                           on_recorded=lambda e: self.store.put(replace(record, entry_id=e.id)))
        except BaseException:
            if self.store.get(skill.name) is not None:  # names are unique while training: it is this job's
                self.store.remove(skill.name)
            shutil.rmtree(adapter_dir, ignore_errors=True)
            raise
        finally:
            with self._lock:
                self._pending.pop(skill.name, None)


def _passages(tokenizer: Any, text: str, config: SkillConfig) -> list[Example]:
    if not text.strip():
        raise InvalidSettingError("the text is empty")
    return text_examples(tokenizer, text, config.max_length)


def _probe(tokenizer: Any, skill: Skill, ex: Example) -> dict[str, str]:
    """What the regression guard scores for this skill later: an example's answer after its prompt,
    or a passage's second half after its first."""
    if skill.raw:
        half = len(ex.output) // 2
        return {"group": f"skill:{skill.name}", "prompt": ex.output[:half], "continuation": ex.output[half:]}
    return {"group": f"skill:{skill.name}", "prompt": chat_prompt(tokenizer, skill.instruction, ex.input),
            "continuation": ex.output}


def _check_bounds(config: SkillConfig, ssr: SSRConfig, n_examples: int, max_steps: int) -> None:
    values = {**asdict(config), **{f"ssr.{k}": v for k, v in asdict(ssr).items()}}
    bad = [name for name, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
    bad += [f"{name} <= {limit:g}" for name, limit in UPPER_BOUNDS.items() if values[name] > limit]
    if bad:
        raise InvalidSettingError(f"skill setting(s) out of range: {', '.join(bad)}")
    steps = max(math.ceil(n_examples * config.epochs / config.batch_size), config.min_steps) + config.consolidation_steps
    if steps > max_steps:
        raise InvalidSettingError(f"this skill would train for about {steps} steps; at most {max_steps} "
                                  "(PALIMPSEST_SKILL_MAX_STEPS): lower epochs, min_steps or consolidation_steps")


def _config(replay: ReplayOptions, training: dict[str, Any]) -> SkillConfig:
    fields = asdict(DEFAULTS)
    unknown = sorted(set(training) - set(fields))
    if unknown:
        raise InvalidSettingError(f"unknown training setting(s) {unknown}; known: {sorted(fields)}")
    fields.update(training)
    if replay.ratio is not None:
        fields["replay_ratio"] = replay.ratio
    if replay.consolidation_steps is not None:
        fields["consolidation_steps"] = replay.consolidation_steps
    try:
        return SkillConfig(**fields)
    except TypeError as exc:  # a value of the wrong type that SkillConfig's checks did not name
        raise InvalidSettingError(str(exc)) from exc
