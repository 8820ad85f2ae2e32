"""Skills over HTTP: `POST /v1/skills` trains a LoRA skill in a background job, `GET /v1/skills`."""

from __future__ import annotations

import copy
import logging
import shutil
import threading
import weakref
from dataclasses import asdict, replace
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from adapters import RehearsalStore, Skill, SkillConfig, SkillConfigError, SkillDataError, train_skill
from adapters.data import chat_prompt, examples_from_dicts
from adapters.rehearsal import SSRConfig, self_synthesized_rehearsal, sentence_embedder
from adapters.replay import sample_record

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.http.errors import ApiError
from serving.core.history import HistoryEntry
from serving.core.jobs import Job

log = logging.getLogger("palimpsest.skills")
router = APIRouter()

DEFAULTS = SkillConfig(replay_ratio=0.2, consolidation_steps=2, min_steps=12)
"""The server's schedule: low replay while learning, then a short replay-only consolidation."""


class ReplayOptions(BaseModel):
    ratio: float | None = Field(None, description="replayed examples per new one (default 0.2)")
    consolidation_steps: int | None = Field(None, description="replay-only steps after the skill (default 2)")
    keep_data: bool = Field(True, description="keep a sample of the real examples for later replay")
    synthesize: bool | None = Field(None, description="SSR rehearsal set (default: when keep_data is false)")
    ssr: dict[str, Any] = Field(default_factory=dict, description="SSRConfig overrides, e.g. n_prompts")


class SkillRequest(BaseModel):
    name: str
    examples: list[dict[str, Any]]
    instruction: str | None = None
    replay: ReplayOptions = Field(default_factory=ReplayOptions)
    training: dict[str, Any] = Field(default_factory=dict, description="SkillConfig overrides, e.g. epochs, lr, rank")


class SkillService:
    """The rehearsal store and the skills being trained, for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.root = engine.settings.home / "skills"
        self.store = RehearsalStore(self.root / "rehearsal")
        self.pending: set[str] = set()
        self.lock = threading.Lock()
        self._embed = None
        for record in self.store.records():
            if record.entry_id is None or self._status(record.entry_id) != "applied":
                self.store.remove(record.name)

    def _status(self, entry_id: str) -> str | None:
        try:
            return self.engine.history.get(entry_id).status
        except KeyError:
            return None

    def embed(self):
        if self._embed is None:
            self._embed = sentence_embedder(str(self.engine.settings.embedder))
        return self._embed

    def on_revert(self, entry: HistoryEntry) -> None:
        """A reverted skill leaves nothing behind: its rehearsal record and its saved adapter go."""
        record = self.store.get(entry.details.get("name", ""))
        if record is not None and record.entry_id == entry.id:
            self.store.remove(record.name)
            shutil.rmtree(self.root / "adapters" / record.name, ignore_errors=True)

    def learn(
        self, skill: Skill, config: SkillConfig, options: ReplayOptions, ssr_config: SSRConfig, progress
    ) -> HistoryEntry:
        """The job: train on a private copy, apply the delta, then keep what later replay needs."""
        try:
            host = self.engine.host
            with host.reading():
                base = copy.deepcopy(host.model)
            tokenizer = host.tokenizer
            replay = self.store.replay_sets(exclude=skill.name) if config.replay_ratio or config.consolidation_steps else []
            synthesize = options.synthesize if options.synthesize is not None else not options.keep_data
            trained = train_skill(
                base,
                tokenizer,
                skill,
                config,
                replay=replay,
                progress=lambda f, m: progress(0.9 * f if synthesize else f, m),
                adapter_dir=self.root / "adapters" / skill.name,
                keep_model=synthesize,
                copy_model=synthesize,
            )
            record = sample_record(skill, keep_data=options.keep_data, n_keep=config.replay_per_skill, seed=config.seed)
            ssr_stats = None
            if synthesize and len(record.demos) >= 2:
                progress(0.9, "synthesizing rehearsal examples (SSR)")
                ssr = self_synthesized_rehearsal(
                    base, trained.model, tokenizer, skill.instruction, record.demos, self.embed(),
                    ssr_config,
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
                "probes": [
                    {"group": f"skill:{skill.name}", "prompt": chat_prompt(tokenizer, skill.instruction, ex.input),
                     "continuation": ex.output}
                    for ex in skill.examples[:4]
                ],
            }
            summary = f"skill {skill.name}: {len(skill.examples)} examples, loss {losses[0]:.3f} -> {losses[-1]:.3f}"
            entry = self.engine.apply_delta("skill", summary, details, trained.delta)
            if entry.status == "applied":
                self.store.put(replace(record, entry_id=entry.id))
            return entry
        finally:
            with self.lock:
                self.pending.discard(skill.name)


_services: weakref.WeakKeyDictionary[Engine, SkillService] = weakref.WeakKeyDictionary()


def install(engine: Engine) -> None:
    service = SkillService(engine)
    _services[engine] = service
    engine.on_revert("skill", service.on_revert)


def _service(engine: Engine) -> SkillService:
    if engine not in _services:
        install(engine)
    return _services[engine]


def _config(request: SkillRequest) -> SkillConfig:
    fields = asdict(DEFAULTS)
    unknown = sorted(set(request.training) - set(fields))
    if unknown:
        raise ApiError(422, f"unknown training setting(s) {unknown}; known: {sorted(fields)}")
    fields.update(request.training)
    if request.replay.ratio is not None:
        fields["replay_ratio"] = request.replay.ratio
    if request.replay.consolidation_steps is not None:
        fields["consolidation_steps"] = request.replay.consolidation_steps
    try:
        return SkillConfig(**fields)
    except (SkillConfigError, TypeError) as exc:
        raise ApiError(422, str(exc)) from exc


@router.post("/v1/skills", status_code=202)
def learn_skill(request: SkillRequest, engine: Engine = Depends(get_engine)) -> dict[str, Job]:
    service = _service(engine)
    try:
        skill = Skill(request.name, examples_from_dicts(request.examples), request.instruction)
    except SkillDataError as exc:
        raise ApiError(422, str(exc)) from exc
    config = _config(request)
    try:
        ssr_config = SSRConfig(**{"n_select": min(config.replay_per_skill, 50), "seed": config.seed, **request.replay.ssr})
    except (TypeError, ValueError) as exc:
        raise ApiError(422, f"replay.ssr: {exc}") from exc
    with service.lock:
        if service.store.get(skill.name) is not None or skill.name in service.pending:
            raise ApiError(
                409, f"a skill named {skill.name!r} is already applied or training; revert it or choose another name",
                "conflict_error",
            )
        service.pending.add(skill.name)
    try:
        job = engine.jobs.submit(
            "skill", lambda progress: service.learn(skill, config, request.replay, ssr_config, progress)
        )
    except Exception:
        with service.lock:
            service.pending.discard(skill.name)
        raise
    return {"job": job}


@router.get("/v1/skills")
def list_skills(engine: Engine = Depends(get_engine)) -> dict[str, list[dict[str, Any]]]:
    service = _service(engine)
    skills = []
    for record in service.store.records():
        entry = engine.history.get(record.entry_id) if record.entry_id else None
        skills.append({
            "name": record.name,
            "entry_id": record.entry_id,
            "status": entry.status if entry else "unknown",
            "created_at": entry.created_at if entry else None,
            "instruction": record.instruction,
            "n_examples": record.n_examples,
            "keep_data": record.keep_data,
            "rehearsal": "real" if record.samples else "synthetic" if record.synthetic else "demos",
            "rehearsal_size": len(record.replay_examples()),
            "adapter_dir": str(service.root / "adapters" / record.name),
        })
    return {"skills": skills}
