"""Graph memories over the real sentence embedder (all-MiniLM-L6-v2) and the rule extractor."""

import os

import pytest

from memory.extract import RuleExtractor
from memory.store import GraphMemory
from tests.helpers.memory_world import PASSAGES, docs


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
