"""One service per learning path, attached to one engine by :class:`Runtime`.

>>> runtime = Runtime.load(Settings(home="/tmp/palimpsest"))
>>> entry, _ = runtime.memory.add_facts([("Ilse Varga", "works for", "Ostrander Mills")])
>>> ids, params, citations = runtime.chat.chat_ids(
...     [{"role": "user", "content": "Who does Ilse Varga work for?"}], SamplingParams(32, temperature=0.0))
>>> runtime.engine.revert(entry.id).status
'reverted'
"""

from __future__ import annotations

from serving.core.engine import Engine
from serving.core.settings import Settings

from serving.services.chat import ChatService
from serving.services.edits import EditService
from serving.services.grounding import GroundingConfig
from serving.services.memory import MemoryService
from serving.services.skills import SkillService
from serving.services.updates import UpdateService


class Runtime:
    """The engine and its services. Each service registers its revert hook with the engine when built."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.memory = MemoryService(engine)
        self.edits = EditService(engine)
        self.skills = SkillService(engine)
        settings = engine.settings
        self.chat = ChatService(engine, self.memory, GroundingConfig(
            format=settings.grounding_format, fact_min=settings.grounding_fact_min,
            passage_min=settings.grounding_passage_min, passage_ratio=settings.grounding_passage_ratio,
            sentences=settings.grounding_sentences,
            contrast=settings.grounding_contrast, copy=settings.grounding_copy, anchor=settings.grounding_anchor,
            substitute=settings.grounding_substitute, end=settings.grounding_end), self.edits)
        self.updates = UpdateService(engine, self.memory, self.edits, self.skills)
        for kind in ("passages", "entities", "facts_current"):
            engine.metrics.watch_memory(kind, lambda kind=kind: self.memory.stats()[kind])

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        return cls(Engine.load(settings))

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    def close(self) -> None:
        self.engine.close()
