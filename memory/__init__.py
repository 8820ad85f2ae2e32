"""Graph memory: HippoRAG 2-style knowledge graph with incremental ingest, exact removal and PPR retrieval.

Leaf package: it takes a model, a tokenizer and plain data; it never imports `serving`.
"""

from memory.errors import MemoryInputError
from memory.facts import FactHit
from memory.store import Document, GraphMemory, IngestResult, MemoryConfig, Passage

__all__ = ["Document", "FactHit", "GraphMemory", "IngestResult", "MemoryConfig", "MemoryInputError", "Passage"]
