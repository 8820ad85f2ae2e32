"""``PalimpsestRetriever``: LangChain documents from the graph memory (server or in-process)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, SecretStr

from serving.client import Client
from serving.core.settings import Settings


class PalimpsestRetriever(BaseRetriever):
    """Top-``k`` passages by Personalized PageRank over the graph memory."""

    k: int = 4
    base_url: str = Field(default_factory=lambda: Settings().base_url)
    api_key: SecretStr | None = Field(
        default_factory=lambda: SecretStr(k) if (k := Settings().api_key) else None
    )
    runtime: Any = Field(default=None, exclude=True)
    """An in-process ``serving.services.Runtime``; when set, no HTTP is used."""
    timeout: float = 60.0

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        if self.runtime is not None:
            results = self.runtime.memory.search(query, k)
        else:
            client = Client(self.base_url, self.api_key.get_secret_value() if self.api_key else "", self.timeout)
            results = client.get("/v1/memory/search", {"q": query, "k": k})["results"]
        return [Document(page_content=r["text"], id=r["id"], metadata={"id": r["id"], "score": r["score"]})
                for r in results[:k]]
