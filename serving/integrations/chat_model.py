"""``ChatPalimpsest``: a LangChain chat model over a running server or an in-process runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, SecretStr

from serving.client import Client
from serving.core.settings import Settings

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "chat": "user"}


def _to_wire(message: BaseMessage) -> dict[str, str]:
    role = getattr(message, "role", None) if message.type == "chat" else _ROLES.get(message.type, "user")
    return {"role": role or "user", "content": message.text}


def _usage(prompt: int, completion: int) -> UsageMetadata:
    return UsageMetadata(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)


class ChatPalimpsest(BaseChatModel):
    """Chat with the Palimpsest model: over HTTP (``base_url``) or in-process (``runtime``).

    Answers are grounded in the graph memory unless ``memory=False``; citations are in
    ``response_metadata["citations"]``.
    """

    model: str = "palimpsest"
    base_url: str = Field(default_factory=lambda: Settings().base_url)
    api_key: SecretStr | None = Field(
        default_factory=lambda: SecretStr(k) if (k := Settings().api_key) else None
    )
    runtime: Any = Field(default=None, exclude=True)
    """An in-process ``serving.services.Runtime``; when set, no HTTP is used."""
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int | None = 64
    stop: list[str] | None = None
    memory: bool | None = None
    timeout: float | None = 600.0
    max_retries: int = 2
    streaming: bool = False

    @property
    def _llm_type(self) -> str:
        return "palimpsest"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url, "temperature": self.temperature}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="palimpsest", ls_model_name=kwargs.get("model", self.model), ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
        )
        if self.max_tokens:
            params["ls_max_tokens"] = self.max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def _body(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": kwargs.get("model", self.model),
            "messages": [_to_wire(m) for m in messages],
            "temperature": kwargs.get("temperature", self.temperature),
            "top_p": self.top_p,
            "max_tokens": kwargs.get("max_tokens", self.max_tokens) or 256,
        }
        if stop or self.stop:
            body["stop"] = stop or self.stop
        if self.memory is not None:
            body["memory"] = self.memory
        return body

    def _events(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Streamed chunks as dicts in the OpenAI shape, from the runtime or the server."""
        if self.runtime is not None:
            yield from self._runtime_events(body)
            return
        client = Client(self.base_url, self.api_key.get_secret_value() if self.api_key else "", self.timeout)
        yield from client.stream("/v1/chat/completions", {**body, "stream_options": {"include_usage": True}})

    def _runtime_events(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        from serving.core.generation import SamplingParams

        chat = self.runtime.chat
        params = SamplingParams(body["max_tokens"], body["temperature"], body["top_p"], body.get("stop", []), None)
        ids, params, citations = chat.chat_ids(body["messages"], params, body.get("memory"))
        if citations:
            yield {"choices": [], "palimpsest": {"citations": citations}}
        done = 0
        for piece in chat.pieces(ids, params):
            done = piece.completion_tokens
            yield {"choices": [{"delta": {"content": piece.text}, "finish_reason": piece.finish_reason}]}
        yield {"choices": [], "usage": {"prompt_tokens": len(ids), "completion_tokens": done}}

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for event in self._events(self._body(messages, stop, **kwargs)):
            metadata: dict[str, Any] = {}
            if event.get("palimpsest", {}).get("citations"):
                metadata["citations"] = event["palimpsest"]["citations"]
            text, usage = "", None
            for choice in event.get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
                if choice.get("finish_reason"):
                    metadata["finish_reason"] = choice["finish_reason"]
            if event.get("usage"):
                usage = _usage(event["usage"]["prompt_tokens"], event["usage"]["completion_tokens"])
            if not (text or usage or metadata):
                continue
            if usage or metadata:
                metadata["model_name"] = self.model
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(content=text, usage_metadata=usage, response_metadata=metadata)
            )
            if run_manager and text:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        final: ChatGenerationChunk | None = None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            final = chunk if final is None else final + chunk
        if final is None:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=""))])
        message = AIMessage(
            content=final.message.content, usage_metadata=final.message.usage_metadata,
            response_metadata=final.message.response_metadata,
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
