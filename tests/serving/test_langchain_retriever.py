"""LangChain's standard retriever suite for ``PalimpsestRetriever``, against a real server with a
real graph memory, plus the in-process path."""

from __future__ import annotations

import httpx
import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from serving.integrations import PalimpsestRetriever
from tests.helpers.server import serve_in_subprocess

pytestmark = pytest.mark.slow

DOCUMENTS = [
    "Marisol Ventrek founded the Ventrek Glassworks in Ostrava in 1987.",
    "The Ventrek Glassworks makes lenses for the Harth Observatory.",
    "The Harth Observatory stands on Mount Oru above the town of Orvik.",
    "Orvik is a fishing town on the west coast with about 3,000 people.",
    "Kira Osei wrote Saltglass, a novel about the harbour of Orvik.",
]


@pytest.fixture(scope="class")
def memory_server(default_model_dir, tmp_path_factory):
    with serve_in_subprocess(tmp_path_factory.mktemp("retriever-home"), PALIMPSEST_MEMORY_EXTRACTOR="rule") as url:
        response = httpx.post(url + "/v1/memory/documents", json={"documents": [{"text": t} for t in DOCUMENTS]},
                              timeout=300)
        assert response.status_code == 201, response.text
        TestPalimpsestRetriever.url = url
        yield url


@pytest.mark.usefixtures("memory_server")
class TestPalimpsestRetriever(RetrieversIntegrationTests):
    url = ""

    @property
    def retriever_constructor(self) -> type[PalimpsestRetriever]:
        return PalimpsestRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"base_url": self.url}

    @property
    def retriever_query_example(self) -> str:
        return "Who makes lenses for the observatory near Orvik?"

    def test_grounded_answer_cites_the_memory(self) -> None:
        docs = PalimpsestRetriever(base_url=self.url, k=2).invoke("Who founded the Ventrek Glassworks?")
        assert "Marisol Ventrek" in docs[0].page_content
        assert docs[0].metadata["score"] >= docs[1].metadata["score"]
