"""Chat Completions request bodies, as openai-python's `chat.completions.create` sends them.

Bodies are strict (unknown fields refused, as the real API does). Parts a text model cannot
read (images, audio, files) validate here and are refused when the command is built, naming
where they are.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from airlock.server.wire.common import (
    FunctionDefinition,
    JsonObjectFormat,
    JsonSchemaResponseFormat,
    Metadata,
    Strict,
    Temperature,
    TextFormat,
    TopP,
)


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImageUrl(Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


class AudioPart(Strict):
    type: Literal["input_audio"]
    input_audio: dict[str, Any]


class FilePart(Strict):
    type: Literal["file"]
    file: dict[str, Any]


class RefusalPart(Strict):
    type: Literal["refusal"]
    refusal: str


UserPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]


class SystemMessage(Strict):
    role: Literal["system"]
    content: str | list[TextPart]
    name: str | None = None


class DeveloperMessage(Strict):
    role: Literal["developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(Strict):
    role: Literal["user"]
    content: str | list[UserPart]
    name: str | None = None


class CalledFunction(Strict):
    name: str
    arguments: str


class ToolCallIn(Strict):
    id: str
    type: Literal["function"]
    function: CalledFunction


class AssistantMessage(Strict):
    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    audio: dict[str, Any] | None = None
    # What a returned message carries, so that apps can append it to the messages as it is.
    annotations: list[dict[str, Any]] | None = None
    function_call: dict[str, Any] | None = None


class ToolMessage(Strict):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


ChatMessageIn = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


class ChatFunctionTool(Strict):
    type: Literal["function"]
    function: FunctionDefinition


class CustomTool(Strict):
    type: Literal["custom"]
    custom: dict[str, Any]


class NamedFunction(Strict):
    name: str


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: NamedFunction


class AllowedTools(Strict):
    type: Literal["allowed_tools"]
    allowed_tools: dict[str, Any]


class StreamOptions(Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


ChatResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaResponseFormat, Field(discriminator="type")
]
Penalty = Annotated[float | None, Field(ge=-2.0, le=2.0)]


class ChatCompletionCreate(Strict):
    model: str
    messages: Annotated[list[ChatMessageIn], Field(min_length=1)]
    tools: Annotated[list[Annotated[ChatFunctionTool | CustomTool, Field(discriminator="type")]],
                     Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | Annotated[
        NamedToolChoice | AllowedTools, Field(discriminator="type")] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ChatResponseFormat | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None
    temperature: Temperature = None
    top_p: TopP = None
    frequency_penalty: Penalty = None
    presence_penalty: Penalty = None
    logit_bias: dict[str, Annotated[int, Field(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    metadata: Metadata = None
    store: bool | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    # Refused when set (they cannot be served offline, or by a text model): accepted here so
    # the refusal names the parameter instead of calling it unknown.
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
