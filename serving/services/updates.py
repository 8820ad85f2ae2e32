"""``/v1/updates``: one entry point; the router picks memory, a weight edit or a skill."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from editing.request import EditRequest
from memory.store import Document

from serving.core.engine import Engine
from serving.core.errors import InvalidInputError, RegressionGuardError
from serving.core.history import HistoryEntry
from serving.core.jobs import Job

from serving.services.edits import EditService
from serving.services.memory import MemoryService
from serving.services.routing import Decision, Fact, Probe, classify, parse_statement, probe_model, sentences
from serving.services.skills import SkillService

RouteChoice = Literal["auto", "memory", "edit", "skill"]


@dataclass
class Update:
    """Exactly one of ``text``, ``fact`` or ``examples`` (a skill, with ``name``)."""

    text: str | None = None
    fact: Fact | None = None
    examples: list[dict[str, Any]] | None = None
    name: str | None = None
    instruction: str | None = None
    route: RouteChoice = "auto"
    replaces: bool | None = None
    """For facts: supersede the subject's current object (None: the relation decides)."""


@dataclass
class UpdateOutcome:
    route: str
    reason: str
    entry: HistoryEntry | None = None
    job: Job | None = None
    probs: dict[str, Any] = field(default_factory=dict)
    """For edits: p(target) ``before`` and ``after``."""


class UpdateService:
    """Routes each update, hands it to the learning path, and notes the routing in the entry."""

    def __init__(self, engine: Engine, memory: MemoryService, edits: EditService, skills: SkillService) -> None:
        self.engine, self.memory, self.edits, self.skills = engine, memory, edits, skills

    def _probe(self, fact: Fact) -> Probe:
        host = self.engine.host
        with host.reading():
            return probe_model(host.model, host.tokenizer, fact)

    def decide(self, update: Update) -> Decision:
        if update.route == "auto":
            body = {k: v for k, v in (("text", update.text), ("examples", update.examples)) if v is not None}
            if update.fact is not None:
                body["fact"] = update.fact.__dict__
            return classify(body, self._probe)
        return _forced(update)

    def apply(self, update: Update) -> UpdateOutcome:
        """A weight edit that the regression guard rejects is not an error here: the fact is kept
        in the memory instead, and the outcome says so (``route`` "memory", the reason names the guard,
        the entry's details name the reverted edit under ``edit_reverted_by_guard``)."""
        decision = self.decide(update)
        if decision.route == "skill":
            job = self.skills.submit(update.name or "", update.examples or [], update.instruction)
            return UpdateOutcome(decision.route, decision.reason, job=job)
        routing = {"routing": decision.as_details()}
        probs: dict[str, Any] = {}
        fact = decision.fact
        route, reason = decision.route, decision.reason
        if decision.route == "edit":
            entry, probs, rejected = self._edit(fact, update.replaces, routing)
            if rejected is not None:
                route, reason = "memory", f"{rejected}; the fact is stored in the memory instead"
        elif fact is not None:
            entry, _ = self.memory.add_facts([fact.triple], update.replaces)
        else:
            entry, _ = self.memory.add_documents([Document(update.text or "")])
        entry = self.engine.history.annotate(entry.id, routing)
        return UpdateOutcome(route, reason, entry=entry, probs=probs)

    def _edit(
        self, fact: Fact, replaces: bool | None, routing: dict[str, Any]
    ) -> tuple[HistoryEntry, dict[str, Any], str | None]:
        """One fact, both places: the weight edit's entry also owns the fact in the memory, so one
        revert undoes both. When the guard rejects the edit, the fact stays as a memory entry and
        the guard's reason is returned third."""
        triple = fact.triple
        staged = self.memory.stage_facts([triple], replaces)
        try:
            outcome = self.edits.edit(EditRequest(fact.prompt, fact.subject, fact.object),
                                      extra={"memory_ingest_id": staged.id})
        except RegressionGuardError as exc:
            kept = self.memory.record(f"memory: 1 fact(s), first: {' '.join(triple)}", staged,
                                      {"edit_reverted_by_guard": exc.entry["id"], **routing})
            return kept, {}, exc.message
        except BaseException:
            self.memory.discard(staged.id)
            raise
        return outcome.entry, {"before": outcome.before[0], "after": outcome.after[0]}, None

def _forced(update: Update) -> Decision:
    """The caller's route, checked against what the update can be."""
    if update.route == "skill" and update.examples is None:
        raise InvalidInputError("route 'skill' needs examples")
    if update.route != "skill" and update.examples is not None:
        raise InvalidInputError(f"examples can only be learned as a skill, not routed to {update.route!r}")
    fact = update.fact
    if fact is None and update.text is not None:  # a one-sentence statement is kept as a fact
        found = sentences(update.text)
        fact = parse_statement(found[0]) if len(found) == 1 else None
    if update.route == "edit" and fact is None:
        raise InvalidInputError("route 'edit' needs one fact: give {'fact': {subject, relation, object}} "
                                "or a single 'Subject verb ... Object.' sentence")
    return Decision(update.route, "route given by the caller", fact)
