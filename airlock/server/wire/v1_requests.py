"""Request bodies of Assistants v1 (`OpenAI-Beta: assistants=v1`, the openai SDK up to 1.20).

Only what v1 accepted: v2-only parameters (tool_resources, attachments, content parts,
file_search, top_p, ...) are unknown arguments here, a 400 as on the real v1 API.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from airlock.server.wire.common import FunctionTool, Metadata, Strict, Temperature
from airlock.server.wire.requests import TruncationStrategy


class RetrievalTool(Strict):
    type: Literal["retrieval"]


class CodeInterpreterTool(Strict):
    type: Literal["code_interpreter"]


Tool = Annotated[RetrievalTool | CodeInterpreterTool | FunctionTool, Field(discriminator="type")]
Tools = Annotated[list[Tool], Field(max_length=128)]
AssistantFileIds = Annotated[list[str], Field(max_length=20)]
MessageFileIds = Annotated[list[str], Field(max_length=10)]


class AssistantCreate(Strict):
    model: str = Field(min_length=1)
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Annotated[str, Field(max_length=256_000)] | None = None
    tools: Tools = []
    file_ids: AssistantFileIds = []
    metadata: Metadata = None


class AssistantUpdate(AssistantCreate):
    model: Annotated[str, Field(min_length=1)] | None = None  # type: ignore[assignment]
    tools: Tools | None = None  # type: ignore[assignment]
    file_ids: AssistantFileIds | None = None  # type: ignore[assignment]


class AssistantFileCreate(Strict):
    file_id: str


class MessageCreate(Strict):
    role: Literal["user", "assistant"]
    content: Annotated[str, Field(min_length=1)]
    file_ids: MessageFileIds = []
    metadata: Metadata = None


class ThreadCreate(Strict):
    messages: Annotated[list[MessageCreate], Field(max_length=32)] = []
    metadata: Metadata = None


class ThreadUpdate(Strict):
    metadata: Metadata = None


class NamedFunction(Strict):
    name: str


class NamedToolChoice(Strict):
    type: Literal["function", "code_interpreter", "retrieval"]
    function: NamedFunction | None = None


class ResponseFormat(Strict):
    type: Literal["text", "json_object"] | None = None


class RunOptions(Strict):
    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    tools: Tools | None = None
    metadata: Metadata = None
    stream: bool | None = None
    temperature: Temperature = None
    max_prompt_tokens: Annotated[int, Field(ge=256)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=16)] | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: Literal["none", "auto"] | NamedToolChoice | None = None
    response_format: Literal["none", "auto"] | ResponseFormat | None = None


class RunCreate(RunOptions):
    additional_instructions: str | None = None
    additional_messages: list[MessageCreate] | None = None


class ThreadAndRunCreate(RunOptions):
    thread: ThreadCreate | None = None


def tool_v2(tool: dict[str, Any]) -> dict[str, Any]:
    """v1's retrieval tool is v2's file_search."""
    return {"type": "file_search"} if tool["type"] == "retrieval" else tool
