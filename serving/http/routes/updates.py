"""``POST /v1/updates``: one entry point; the router picks memory, a weight edit or a skill."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.http.errors import ApiError
from serving.services.routing import Decision, Fact, classify, parse_statement, probe_model, sentences
from .edits import SingleEditIn, create_edit
from .memory import DocumentIn, DocumentsRequest, FactIn, FactsRequest, add_documents, add_facts
from .skills import SkillRequest, learn_skill

router = APIRouter()


class UpdateFact(BaseModel):
    subject: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    object: str = Field(min_length=1)


class UpdateIn(BaseModel):
    text: str | None = Field(None, min_length=1)
    fact: UpdateFact | None = None
    examples: list[dict[str, Any]] | None = None
    name: str | None = None
    instruction: str | None = None
    route: Literal["auto", "memory", "edit", "skill"] = "auto"

    @model_validator(mode="after")
    def _one_kind(self) -> UpdateIn:
        given = [k for k in ("text", "fact", "examples") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of text, fact or examples")
        if self.examples is not None and not self.name:
            raise ValueError("a skill (examples) needs a name")
        return self


def _forced(update: UpdateIn) -> Decision:
    """The caller's route, checked against what the update can be."""
    if update.route == "skill" and update.examples is None:
        raise ApiError(400, "route 'skill' needs examples")
    if update.route != "skill" and update.examples is not None:
        raise ApiError(400, f"examples can only be learned as a skill, not routed to {update.route!r}")
    fact = Fact(**update.fact.model_dump()) if update.fact else None
    if update.route == "edit" and fact is None:
        found = sentences(update.text or "")
        fact = parse_statement(found[0]) if len(found) == 1 else None
        if fact is None:
            raise ApiError(400, "route 'edit' needs one fact: give {'fact': {subject, relation, object}} "
                                "or a single 'Subject verb ... Object.' sentence")
    return Decision(update.route, "route given by the caller", fact)


@router.post("/v1/updates", status_code=201)
def update(update: UpdateIn, engine: Engine = Depends(get_engine)) -> dict[str, Any]:
    if update.route == "auto":
        def probe(fact: Fact):
            with engine.host.reading():
                return probe_model(engine.host.model, engine.host.tokenizer, fact)

        decision = classify(update.model_dump(exclude_none=True), probe)
    else:
        decision = _forced(update)
    routing = {"routing": decision.as_details()}
    out: dict[str, Any] = {"route": decision.route, "reason": decision.reason}

    if decision.route == "skill":
        job = learn_skill(SkillRequest(name=update.name, examples=update.examples,
                                       instruction=update.instruction), engine)["job"]
        return {**out, "job": job}
    if decision.route == "edit":
        fact = decision.fact
        result = create_edit(SingleEditIn(prompt=fact.prompt, subject=fact.subject, target_new=fact.object), engine)
        out.update(before=result["before"], after=result["after"])
    elif decision.fact is not None and update.text is None:
        result = add_facts(FactsRequest(facts=[FactIn(**decision.fact.__dict__)]), engine)
    else:
        result = add_documents(DocumentsRequest(documents=[DocumentIn(text=update.text)]), engine)
    entry = result["entry"]
    entry_id = entry["id"] if isinstance(entry, dict) else entry.id
    return {**out, "entry": engine.history.annotate(entry_id, routing).model_dump()}
