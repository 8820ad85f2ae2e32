"""Wire schemas of the OpenAI-compatible routes (only what we honour; unknown fields ignored)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from serving.core.generation import MIN_TEMPERATURE, MIN_TOP_P

from .middleware import request_settings


class ContentPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


def within_max_tokens(value: int | None) -> int | None:
    """``value`` unless it is over ``PALIMPSEST_MAX_TOKENS`` of the app serving this request."""
    settings = request_settings()
    if value is not None and settings is not None and value > settings.max_tokens:
        raise ValueError(f"at most {settings.max_tokens} tokens per completion (PALIMPSEST_MAX_TOKENS)")
    return value


class _Sampling(BaseModel):
    model: str | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0, description=f"0 (greedy) or {MIN_TEMPERATURE} to 2")
    top_p: float = Field(1.0, ge=MIN_TOP_P, le=1.0)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="only n=1 is supported")
    seed: int | None = Field(None, ge=0, lt=2**63)
    user: str | None = None

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    """At most ``PALIMPSEST_MAX_TOKENS``."""
    max_completion_tokens: int | None = Field(None, ge=1)
    memory: bool | None = None
    """Ground the answer in the graph memory: true forces it, false turns it off; absent: the relevance gate decides."""
    memory_k: int = Field(3, ge=1, le=20)

    _max_tokens = field_validator("max_tokens", "max_completion_tokens")(within_max_tokens)


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)
    """At most ``PALIMPSEST_MAX_TOKENS``."""
    echo: bool = False

    _max_tokens = field_validator("max_tokens")(within_max_tokens)

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("exactly one prompt per request is supported")
        return value

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                 total_tokens=prompt_tokens + completion_tokens)


class Sparse(BaseModel):
    """A response whose ``None`` top-level fields are left out (optional keys, not nulls)."""

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str | None


class ChatCompletion(Sparse):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    palimpsest: dict[str, Any] | None = None
    """``{"grounded": bool, "citations": [{"type": "fact"|"passage", "id", "text", "score"}]}``."""


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: str | None
    logprobs: None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


STREAMED = {"text/event-stream": {"schema": {
    "type": "object", "required": ["data"],
    "description": "with stream: true, one server-sent event: `data` is a JSON chunk, the last one `[DONE]`",
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"},
                   "retry": {"type": "integer"}},
}}}
"""The alternative body of a streamed completion, for the OpenAPI document. Before OpenAPI 3.2 (FastAPI
writes 3.1), the ``schema`` of an event stream describes each event, not the whole stream."""
