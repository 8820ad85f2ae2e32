"""Graph memory: HippoRAG 2-style knowledge graph with incremental ingest, exact removal and PPR retrieval.

Leaf package: it takes a model, a tokenizer and plain data; it never imports `serving`.
"""

from memory.store import Document, GraphMemory, IngestResult, MemoryConfig, MemoryInputError, Passage

__all__ = ["Document", "GraphMemory", "IngestResult", "MemoryConfig", "MemoryInputError", "Passage"]
