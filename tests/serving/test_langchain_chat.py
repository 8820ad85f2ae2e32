"""LangChain's own standard test suites for ``ChatPalimpsest``, against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from serving.integrations import ChatPalimpsest
from tests.helpers.server import serve_in_subprocess


class TestChatPalimpsestUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatPalimpsest]:
        return ChatPalimpsest

    @property
    def chat_model_params(self) -> dict:
        return {"base_url": "http://127.0.0.1:9"}

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        return ({"PALIMPSEST_URL": "http://127.0.0.1:9999", "PALIMPSEST_API_KEY": "k"}, {},
                {"base_url": "http://127.0.0.1:9999"})


@pytest.fixture(scope="class")
def palimpsest_server(default_model_dir: Path, tmp_path_factory) -> str:
    with serve_in_subprocess(tmp_path_factory.mktemp("lc-home")) as url:
        TestChatPalimpsestIntegration.url = url
        yield url


@pytest.mark.slow
@pytest.mark.usefixtures("palimpsest_server")
class TestChatPalimpsestIntegration(ChatModelIntegrationTests):
    url = ""

    @property
    def chat_model_class(self) -> type[ChatPalimpsest]:
        return ChatPalimpsest

    @property
    def chat_model_params(self) -> dict:
        return {"base_url": self.url, "temperature": 0.0, "max_tokens": 12}


def test_in_process_runtime(tiny_model_dir, tmp_path):
    from serving.core.settings import Settings
    from serving.services import Runtime

    runtime = Runtime.load(Settings(model=str(tiny_model_dir), home=tmp_path, guard=False, memory_extractor="rule"))
    model = ChatPalimpsest(runtime=runtime, max_tokens=5, temperature=0.0)
    reply = model.invoke("the cat is in the city")
    assert reply.usage_metadata["output_tokens"] <= 5 and reply.usage_metadata["input_tokens"] > 0
    streamed = "".join(chunk.content for chunk in model.stream("the cat is in the city"))
    assert streamed == reply.content
