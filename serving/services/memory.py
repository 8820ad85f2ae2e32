"""The graph memory service: ingest documents and facts as history entries, search, revert."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from memory.extract import Extractor
from memory.facts import FactHit
from memory.store import Document, GraphMemory, IngestResult

from serving.core.engine import Engine
from serving.core.errors import NotFoundError, TooLargeError
from serving.core.history import HistoryEntry

log = logging.getLogger("palimpsest.memory")

Triple = tuple[str, str, str]


def ingest_of(entry: HistoryEntry) -> str | None:
    """The memory ingest an entry owns: a memory entry's, or the fact a routed edit also stored."""
    return entry.details.get("ingest_id") or entry.details.get("memory_ingest_id")


class MemoryService:
    """Opens the memory under ``home/memory`` and keeps it in step with the history.

    An ingest runs first and is recorded second; an ingest journaled but never recorded (a crash
    between the two) is dropped at start-up, and reverting the entry removes exactly that ingest.
    """

    def __init__(self, engine: Engine) -> None:
        from memory.embed import SentenceTransformerEmbedder
        from memory.extract import CachedExtractor, ExtractionCache
        from memory.extractors import build_extractor

        self.engine = engine
        settings = engine.settings
        root = settings.home / "memory"
        device = "cuda" if str(engine.host.device).startswith("cuda") else "cpu"
        embedder = SentenceTransformerEmbedder(settings.embedder, device=device)
        if settings.memory_extractor == "llm":  # as many passages in flight as the batch has rows
            inner = llm_extractor(engine)
        else:
            inner = build_extractor("rule")
        cache = ExtractionCache(root / "extraction_cache.jsonl")
        self.store = GraphMemory(root, embedder, CachedExtractor(inner, cache, f"{inner.name}:{settings.model}"))
        recorded = {ingest_of(e) for e in engine.history.list(status="applied")}
        for ingest_id in self.store.ingest_ids():
            if ingest_id not in recorded:
                log.warning("removing memory ingest %s: it has no history entry", ingest_id)
                self.store.remove(ingest_id)
        engine.on_revert("memory", self._on_revert)
        engine.on_revert("edit", self._on_revert)
        log.info("graph memory at %s: %s", root, self.store.stats())

    def _on_revert(self, entry: HistoryEntry) -> None:
        ingest_id = ingest_of(entry)
        if ingest_id:
            self.store.remove(ingest_id)

    def stage_facts(self, facts: list[Triple], replaces: bool | None = None) -> IngestResult:
        """Ingest facts that a history entry will own; :meth:`discard` them if no entry comes."""
        return self.store.ingest_facts(facts, ingest_id=_new_id(), replaces=replaces)

    def discard(self, ingest_id: str) -> None:
        self.store.remove(ingest_id)

    def record(self, summary: str, result: IngestResult, extra: dict[str, Any] | None = None) -> HistoryEntry:
        """Record an ingest as a memory entry; a failed record undoes the ingest."""
        details = {"ingest_id": result.id, "passages": result.passages, "entities": result.entities,
                   "triples": result.triples, "superseded": result.superseded, **(extra or {})}
        try:
            return self.engine.record("memory", summary, details)
        except BaseException:
            self.store.remove(result.id)
            raise

    def _ingest(self, summary: str, run: Callable[[str], IngestResult]) -> tuple[HistoryEntry, IngestResult]:
        result = run(_new_id())
        return self.record(summary, result), result

    def add_documents(self, documents: list[Document]) -> tuple[HistoryEntry, IngestResult]:
        """At most ``PALIMPSEST_MAX_DOCUMENTS`` documents."""
        _check_count(len(documents), "documents", self.engine.settings.max_documents, "PALIMPSEST_MAX_DOCUMENTS")
        first = documents[0].id or documents[0].text.strip().split("\n", 1)[0][:60]
        summary = f"memory: {len(documents)} document(s), first: {first}"
        return self._ingest(summary, lambda ingest_id: self.store.ingest_documents(documents, ingest_id=ingest_id))

    def add_facts(
        self, facts: list[Triple], replaces: bool | None = None, valid_from: str | None = None
    ) -> tuple[HistoryEntry, IngestResult]:
        """Facts of a functional relation (or with ``replaces=True``) supersede their subject's current one.
        At most ``PALIMPSEST_MAX_FACTS`` facts."""
        _check_count(len(facts), "facts", self.engine.settings.max_facts, "PALIMPSEST_MAX_FACTS")
        s, r, o = facts[0]
        summary = f"memory: {len(facts)} fact(s), first: {s} {r} {o}"
        return self._ingest(summary, lambda ingest_id: self.store.ingest_facts(
            facts, ingest_id=ingest_id, replaces=replaces, valid_from=valid_from))

    def search(self, query: str, k: int, as_of: str | None = None) -> list[dict[str, Any]]:
        """Passages ``{"id", "text", "score", "metadata"}``, best first."""
        return self.store.search(query, k, as_of=as_of)

    def search_facts(self, query: str, k: int, as_of: str | None = None) -> list[FactHit]:
        return self.store.search_facts(query, k, as_of=as_of)

    def stats(self) -> dict[str, int]:
        return self.store.stats()

    def passage(self, pid: str) -> dict[str, Any]:
        """A stored passage with its entities and the facts it states (superseded ones included)."""
        view = self.store.passage(pid)
        if view is None:
            raise PassageNotFoundError(f"no passage has the id {pid!r}; search the memory for passage ids")
        return view

    def neighbourhood(self, entity: str, limit: int) -> dict[str, Any]:
        """An entity's strongest ``limit`` neighbours, the edges among them, and every fact about it."""
        view = self.store.neighbourhood(entity, limit)
        if view is None:
            raise EntityNotFoundError(f"the memory holds no entity named {entity!r}; open one from a passage or a fact")
        return view

    def is_empty(self) -> bool:
        return not self.store.ingest_ids()


class PassageNotFoundError(NotFoundError):
    """No stored passage has this id."""


class EntityNotFoundError(NotFoundError):
    """The memory holds no entity with this name."""


def _check_count(n: int, what: str, limit: int, variable: str) -> None:
    if n > limit:
        raise TooLargeError(f"{n} {what} in one request; at most {limit} ({variable}): send them in several requests")


def llm_extractor(engine: Engine) -> Extractor:
    """The hosted model's OpenIE, as many passages in flight as a batch has rows, in a batch of its own
    that takes the turns the chat's leaves (``serving.services.extraction``); on a copy in the
    ``extract_dtype`` where that is not the model's own."""
    from editing.precision import resolve_dtype
    from memory.openie import LLMExtractorConfig

    from serving.services.extraction import BackgroundExtractor

    host = engine.host
    config = LLMExtractorConfig(batch_size=engine.decoder.max_batch)
    dtype = resolve_dtype(engine.settings.extract_dtype, host.device)
    if dtype == next(host.model.parameters()).dtype:
        dtype = None
    return BackgroundExtractor(host, dtype, config, engine.settings.request_timeout, turns=engine.turns)


def _new_id() -> str:
    return "mem-" + uuid.uuid4().hex[:16]
