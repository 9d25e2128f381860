"""What services accept: one TypedDict per request, holding the fields the client sent (absent
keys were not sent, so an update leaves those columns alone; a field sent as null is None).

The server builds them from its validated pydantic models (server/wire/requests.py) as plain
JSON; the shapes below mirror those models, so mypy checks every field a service reads.
"""

from __future__ import annotations

from typing import Literal, Required, TypedDict

from airlock.store.records import (
    Attachment,
    Attributes,
    ExpiresAfter,
    ImageFile,
    ImageUrl,
    Metadata,
    NamedToolChoice,
    ResponseFormat,
    ToolSpec,
)


class StaticIn(TypedDict, total=False):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class ChunkingIn(TypedDict, total=False):
    """A chunking_strategy as sent (service.vector_store_files.chunking stores it static)."""

    type: Required[str]
    static: StaticIn


class TruncationIn(TypedDict, total=False):
    type: Required[str]
    last_messages: int


class NewVectorStore(TypedDict, total=False):
    """A vector store made inline (tool_resources.file_search.vector_stores), or by the API."""

    name: str | None
    description: str | None
    file_ids: list[str]
    chunking_strategy: ChunkingIn | None
    expires_after: ExpiresAfter | None
    metadata: Metadata | None


class FileSearchResourcesIn(TypedDict, total=False):
    vector_store_ids: list[str]
    vector_stores: list[NewVectorStore]


class CodeInterpreterResourcesIn(TypedDict, total=False):
    file_ids: list[str]


class ToolResourcesIn(TypedDict, total=False):
    """tool_resources as sent: new vector stores still to be made (service.tool_resources)."""

    code_interpreter: CodeInterpreterResourcesIn
    file_search: FileSearchResourcesIn


class AssistantFields(TypedDict, total=False):
    name: str | None
    description: str | None
    instructions: str | None
    tools: list[ToolSpec] | None
    tool_resources: ToolResourcesIn | None
    metadata: Metadata | None
    temperature: float | None
    top_p: float | None
    response_format: str | ResponseFormat | None
    reasoning_effort: str | None


class AssistantCreate(AssistantFields):
    model: Required[str]


class AssistantUpdate(AssistantFields, total=False):
    model: str | None


class ContentIn(TypedDict, total=False):
    """A content part as sent: text is a plain string (stored parts wrap it, records.ContentPart)."""

    type: Required[str]
    text: str
    image_file: ImageFile
    image_url: ImageUrl


class MessageFields(TypedDict, total=False):
    role: Literal["user", "assistant"]
    content: str | list[ContentIn]
    attachments: list[Attachment] | None
    metadata: Metadata | None


class ThreadFields(TypedDict, total=False):
    messages: list[MessageFields]
    tool_resources: ToolResourcesIn | None
    metadata: Metadata | None


class MetadataFields(TypedDict, total=False):
    metadata: Metadata | None


class RunFields(TypedDict, total=False):
    """A run's create (on a thread, or with a new `thread`); the v1 translation sends the same."""

    assistant_id: str
    instructions: str | None
    model: str | None
    tools: list[ToolSpec] | None
    metadata: Metadata | None
    temperature: float | None
    top_p: float | None
    stream: bool | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationIn | None
    tool_choice: str | NamedToolChoice | None
    parallel_tool_calls: bool | None
    response_format: str | ResponseFormat | None
    additional_instructions: str | None
    additional_messages: list[MessageFields] | None
    reasoning_effort: str | None
    include: list[str]
    thread: ThreadFields | None
    tool_resources: ToolResourcesIn | None


class VectorStoreFileFields(TypedDict, total=False):
    file_id: Required[str]
    attributes: Attributes | None
    chunking_strategy: ChunkingIn | None


class BatchFields(TypedDict, total=False):
    file_ids: list[str] | None
    files: list[VectorStoreFileFields] | None
    attributes: Attributes | None
    chunking_strategy: ChunkingIn | None
