import os

import pytest

from memory.extract import RuleExtractor
from memory_world import PASSAGES, docs

from memory.store import GraphMemory


@pytest.fixture(scope="session")
def embedder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from memory.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def make_memory(embedder):
    def make(root=None) -> GraphMemory:
        return GraphMemory(root, embedder, RuleExtractor())

    return make


@pytest.fixture
def world(make_memory):
    mem = make_memory()
    mem.ingest_documents(docs(PASSAGES), ingest_id="world")
    return mem
