"""POST /v1/responses and its companions' bodies, as openai-python's `responses.create` sends
them (docs/wire/responses.md).

Unlike the other bodies, unknown top-level fields are accepted and ignored, as OpenAI does for
this endpoint: clients newer than the SDK send fields of their own (Codex: `client_metadata`).
Known fields still take their documented types only. Items are validated by
wire.response_items; tools and tool_choice by the request builder (server.responses_request),
so each refusal names the parameter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airlock.server.wire.common import JsonSchema, Metadata, Temperature, TopP
from airlock.server.wire.vector_stores import ComparisonFilter, CompoundFilter


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class TextFormatText(Lenient):
    type: Literal["text"]


class TextFormatJsonObject(Lenient):
    type: Literal["json_object"]


class TextFormatJsonSchema(Lenient):
    type: Literal["json_schema"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    schema_: JsonSchema = Field(None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextConfig(Lenient):
    format: Annotated[TextFormatText | TextFormatJsonObject | TextFormatJsonSchema,
                      Field(discriminator="type")] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ConversationRef(Lenient):
    id: str


class StreamOptions(Lenient):
    include_obfuscation: bool | None = None


class ResponseCreate(Lenient):
    # Absent model: the default model (the SDK's generated tests send bodies without one).
    model: str | None = None
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    store: bool | None = None
    background: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    max_tool_calls: Annotated[int, Field(ge=0)] | None = None
    text: TextConfig | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    reasoning: dict[str, Any] | None = None
    # An airlock extension (OpenAI's Responses API has none): repeatable sampling, as
    # Chat Completions' `seed`, for tests on real models. SDKs send it in extra_body.
    seed: int | None = None
    # Refused when set, naming the parameter (see server.responses_request).
    prompt: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    context_management: list[dict[str, Any]] | None = None


class InputTokensCount(Lenient):
    model: str | None = None
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    truncation: Literal["auto", "disabled"] | None = None
    reasoning: dict[str, Any] | None = None


class HybridSearch(Lenient):
    embedding_weight: float = Field(ge=0.0)
    text_weight: float = Field(ge=0.0)


class FileSearchRanking(Lenient):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)
    hybrid_search: HybridSearch | None = None


class FileSearchTool(Lenient):
    """A file_search tool of a response: the user's vector stores, searched by the engine."""

    type: Literal["file_search"]
    vector_store_ids: Annotated[list[Annotated[str, Field(min_length=1)]],
                                Field(min_length=1)]
    max_num_results: int = Field(20, ge=1, le=50)
    filters: ComparisonFilter | CompoundFilter | None = None
    ranking_options: FileSearchRanking | None = None


class ContainerAuto(Lenient):
    type: Literal["auto"]
    file_ids: list[Annotated[str, Field(min_length=1)]] = []
    memory_limit: Literal["1g", "4g", "16g", "64g"] | None = None
    network_policy: dict[str, Any] | None = None


class CodeInterpreterTool(Lenient):
    """A code_interpreter tool of a response: a container's id, or one made for it."""

    type: Literal["code_interpreter"]
    container: Annotated[str, Field(min_length=1)] | ContainerAuto
