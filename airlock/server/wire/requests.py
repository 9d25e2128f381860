"""Request bodies, one model per endpoint that takes JSON. Validation lives here, not in routers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from airlock.server.wire.common import (
    FreeJson,
    Metadata,
    NullIsEmpty,
    ResponseFormat,
    Strict,
    Temperature,
    ToolResources,
    Tools,
    TopP,
)

# --- assistants -------------------------------------------------------------------------------


class AssistantCreate(Strict):
    model: str = Field(min_length=1)
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Annotated[str, Field(max_length=256_000)] | None = None
    tools: Tools = []
    tool_resources: ToolResources | None = None
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


class AssistantUpdate(AssistantCreate):
    model: Annotated[str, Field(min_length=1)] | None = None  # type: ignore[assignment]


# --- messages ---------------------------------------------------------------------------------


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImageFile(Strict):
    file_id: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageFilePart(Strict):
    type: Literal["image_file"]
    image_file: ImageFile


class ImageUrl(Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageUrlPart(Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[
    TextPart | ImageFilePart | ImageUrlPart, Field(discriminator="type")
]


class AttachmentTool(Strict):
    type: Literal["code_interpreter", "file_search"]


class Attachment(Strict):
    file_id: str
    tools: Annotated[list[AttachmentTool], NullIsEmpty] = []


class MessageCreate(Strict):
    role: Literal["user", "assistant"]
    content: str | Annotated[list[ContentPart], Field(min_length=1)]
    attachments: list[Attachment] | None = None
    metadata: Metadata = None


class MetadataUpdate(Strict):
    metadata: Metadata = None


# --- threads ----------------------------------------------------------------------------------


class ThreadCreate(Strict):
    messages: Annotated[list[MessageCreate], Field(max_length=32), NullIsEmpty] = []
    tool_resources: ToolResources | None = None
    metadata: Metadata = None


class ThreadUpdate(Strict):
    tool_resources: ToolResources | None = None
    metadata: Metadata = None


# --- runs (executed by the engine) ------------------------------------------------------------


class TruncationStrategy(Strict):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


class NamedFunction(Strict):
    name: str


class NamedToolChoice(Strict):
    type: Literal["function", "code_interpreter", "file_search"]
    function: NamedFunction | None = None


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class RunOptions(Strict):
    """What both run-creating endpoints accept besides the thread."""

    assistant_id: str
    instructions: str | None = None
    model: str | None = None
    tools: Tools | None = None
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    stream: bool | None = None
    max_prompt_tokens: Annotated[int, Field(ge=256)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=16)] | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


class RunCreate(RunOptions):
    additional_instructions: str | None = None
    additional_messages: list[MessageCreate] | None = None
    reasoning_effort: str | None = None


class ThreadAndRunCreate(RunOptions):
    thread: ThreadCreate | None = None
    tool_resources: ToolResources | None = None


class ToolOutput(Strict):
    tool_call_id: str
    output: str


class SubmitToolOutputs(Strict):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


# --- the scripted model -----------------------------------------------------------------------


class ScriptedFunction(Strict):
    name: str
    arguments: Annotated[dict | str, FreeJson] = {}


class ScriptedToolCall(Strict):
    type: Literal["function", "code_interpreter", "file_search"]
    function: ScriptedFunction | None = None
    code_interpreter: Annotated[dict | None, FreeJson] = None
    file_search: Annotated[dict | None, FreeJson] = None


class ScriptedReply(Strict):
    text: str | None = None
    # The model fails with this message after emitting `text` (to test failure handling).
    error: str | None = None
    tool_calls: list[ScriptedToolCall] | None = None
    # Pause before each emitted piece, to imitate a slow model.
    delay_ms: Annotated[int, Field(ge=0, le=10_000)] = 0


class ScriptedReplies(Strict):
    replies: Annotated[list[ScriptedReply], Field(min_length=1)]
    thread_id: str | None = None
