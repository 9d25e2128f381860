"""Rows as the store returns them: one TypedDict per table, its wire columns with JSON columns
decoded, so mypy checks every column a service or the engine reads. Internal columns (tables.
INTERNAL) are absent but where a row type says otherwise (`StoredRun`).

JSON column content is typed where its shape is known (tools, tool_resources, usage, step
details, ...); `JsonObject` is for what really is arbitrary JSON (a schema, metadata of a
search result, a scripted reply).
"""

from __future__ import annotations

from typing import Literal, NotRequired, Required, TypeAlias, TypedDict

# Arbitrary JSON as orjson decodes it.
JsonValue: TypeAlias = "str | int | float | bool | None | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = "dict[str, JsonValue]"
Metadata = dict[str, str]


# --- JSON column shapes ------------------------------------------------------------------------


class FunctionSpec(TypedDict, total=False):
    name: Required[str]
    description: str | None
    parameters: JsonObject | None
    strict: bool | None


class RankingOptions(TypedDict, total=False):
    ranker: str | None
    score_threshold: float


class FileSearchSettings(TypedDict, total=False):
    max_num_results: int | None
    ranking_options: RankingOptions | None


class ToolSpec(TypedDict, total=False):
    """One of `tools`: {"type": "function", "function": ...}, {"type": "file_search", ...}."""

    type: Required[str]
    function: FunctionSpec
    file_search: FileSearchSettings | None


class FileSearchResources(TypedDict, total=False):
    vector_store_ids: list[str]


class CodeInterpreterResources(TypedDict, total=False):
    file_ids: list[str]


class ToolResources(TypedDict, total=False):
    file_search: FileSearchResources
    code_interpreter: CodeInterpreterResources


class NamedFunction(TypedDict):
    name: str


class NamedToolChoice(TypedDict, total=False):
    """A tool_choice naming a tool: {"type": "file_search"}, {"type": "function", "function": ...}."""

    type: Required[str]
    function: NamedFunction


class JsonSchemaFormat(TypedDict, total=False):
    name: Required[str]
    description: str
    schema: JsonObject
    strict: bool


class ResponseFormat(TypedDict, total=False):
    """A response_format object: text, json_object or json_schema (else the string "auto")."""

    type: Required[str]
    json_schema: JsonSchemaFormat


class TruncationStrategy(TypedDict):
    type: str
    last_messages: int | None


class ErrorInfo(TypedDict):
    code: str
    message: str


class TokenDetails(TypedDict):
    cached_tokens: int


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_token_details: NotRequired[TokenDetails]


class CallFunction(TypedDict, total=False):
    name: Required[str]
    arguments: Required[str]
    output: str | None


class FunctionCallDetail(TypedDict):
    id: str
    type: Literal["function"]
    function: CallFunction


class SubmitToolOutputs(TypedDict):
    tool_calls: list[FunctionCallDetail]


class RequiredAction(TypedDict):
    type: Literal["submit_tool_outputs"]
    submit_tool_outputs: SubmitToolOutputs


class ToolCallDetail(TypedDict, total=False):
    """A tool call of a tool_calls step: function, file_search or code_interpreter."""

    id: Required[str]
    type: Required[str]
    function: CallFunction
    file_search: JsonObject
    code_interpreter: JsonObject


class MessageCreation(TypedDict):
    message_id: str


class StepDetails(TypedDict, total=False):
    type: Required[Literal["message_creation", "tool_calls"]]
    message_creation: MessageCreation
    tool_calls: list[ToolCallDetail]


class Citation(TypedDict):
    file_id: str
    quote: str  # the source sentence closest to the citing one (Assistants v1 shows it)


class FilePath(TypedDict):
    file_id: str


class TextAnnotation(TypedDict, total=False):
    """A span of a reply's text: a file_citation, or a file_path to a file the code made;
    `index` only in stream deltas."""

    index: int
    type: Required[str]
    text: Required[str]
    start_index: Required[int]
    end_index: Required[int]
    file_citation: Citation
    file_path: FilePath


class TextContent(TypedDict):
    value: str
    annotations: list[TextAnnotation]


class ImageFile(TypedDict, total=False):
    file_id: Required[str]
    detail: str


class ImageUrl(TypedDict, total=False):
    url: Required[str]
    detail: str


class ContentPart(TypedDict, total=False):
    """One part of a message's content: text, image_file or image_url."""

    type: Required[str]
    text: TextContent
    image_file: ImageFile
    image_url: ImageUrl
    refusal: str


class AttachmentTool(TypedDict):
    type: str


class Attachment(TypedDict):
    file_id: str
    tools: list[AttachmentTool]


class IncompleteDetails(TypedDict):
    reason: str


class StaticChunking(TypedDict):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class ChunkingStrategy(TypedDict):
    """As stored: always static (an auto strategy is stored as its 800/400)."""

    type: str
    static: StaticChunking


# A vector-store file's attributes, which search filters compare.
AttributeValue = str | float | bool
Attributes = dict[str, AttributeValue]


class Filter(TypedDict, total=False):
    """A search filter on attributes: a comparison (type eq, ne, gt, gte, lt, lte, in, nin; key;
    value) or a compound one (type and, or; filters)."""

    type: Required[str]
    key: str
    value: AttributeValue | list[AttributeValue]
    filters: list[Filter]


class ExpiresAfter(TypedDict):
    anchor: str
    days: int


# --- rows --------------------------------------------------------------------------------------


class AssistantRow(TypedDict):
    id: str
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[ToolSpec]
    tool_resources: ToolResources | None
    metadata: Metadata
    temperature: float | None
    top_p: float | None
    response_format: str | ResponseFormat | None
    reasoning_effort: str | None


class ThreadRow(TypedDict):
    id: str
    created_at: int
    tool_resources: ToolResources | None
    metadata: Metadata


class MessageRow(TypedDict):
    id: str
    thread_id: str
    created_at: int
    role: Literal["user", "assistant"]
    content: list[ContentPart]
    status: str
    incomplete_details: IncompleteDetails | None
    completed_at: int | None
    incomplete_at: int | None
    assistant_id: str | None
    run_id: str | None
    attachments: list[Attachment]
    metadata: Metadata


class RunRow(TypedDict):
    id: str
    thread_id: str
    assistant_id: str
    created_at: int
    status: str
    required_action: RequiredAction | None
    last_error: ErrorInfo | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: IncompleteDetails | None
    model: str
    instructions: str
    tools: list[ToolSpec]
    tool_resources: ToolResources | None
    metadata: Metadata
    usage: Usage | None
    # Always set on a run: the request's, else its assistant's, else its model's.
    temperature: float
    top_p: float
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy
    tool_choice: str | NamedToolChoice
    parallel_tool_calls: bool
    response_format: str | ResponseFormat


class StoredRun(RunRow):
    """A run with the internal columns the engine works with (the wire shows none of them)."""

    params: JsonObject  # engine.run_state.RunParams, as JSON
    backend: str | None
    queued_ns: NotRequired[int | None]
    seq: NotRequired[int]
    claimed_by: NotRequired[str | None]
    lease_until: NotRequired[float | None]


class StepRow(TypedDict):
    id: str
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: int
    type: str
    status: str
    step_details: StepDetails
    last_error: ErrorInfo | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: Metadata
    usage: Usage | None


class FileRow(TypedDict):
    id: str
    created_at: int
    bytes: int
    filename: str
    purpose: str
    status: str
    status_details: str | None
    expires_at: int | None


class VectorStoreRow(TypedDict):
    id: str
    created_at: int
    name: str
    description: str | None
    expires_after: ExpiresAfter | None
    expires_at: int | None
    last_active_at: int  # nullable column, but every write sets it
    metadata: Metadata


class VectorStoreFileRow(TypedDict):
    id: str
    vector_store_id: str
    created_at: int
    usage_bytes: int
    status: str
    last_error: ErrorInfo | None
    chunking_strategy: ChunkingStrategy
    attributes: Attributes | None


class BatchRow(TypedDict):
    id: str
    vector_store_id: str
    created_at: int


class ScriptedReplyRow(TypedDict):
    thread_id: str | None
    reply: JsonObject


# Any row a run event carries.
EventRow = RunRow | MessageRow | StepRow


class FileCounts(TypedDict):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStoreObject(VectorStoreRow):
    """A store with what is derived from its files when read (service.vector_stores)."""

    usage_bytes: int
    status: str
    file_counts: FileCounts


class BatchObject(BatchRow):
    """A file batch with its status and counts, derived from its files when read."""

    status: str
    file_counts: FileCounts


# --- Responses and Conversations ---------------------------------------------------------------

# An item as the wire shows it (a message, a function call or its output...): stored as given,
# with the id the server gave it or the client sent.
ItemJson = dict[str, JsonValue]


class ResponseRow(TypedDict):
    id: str
    created_at: int
    status: str
    model: str
    previous_response_id: str | None
    conversation_id: str | None
    body: dict[str, JsonValue]  # the response object as the wire shows it, output included


class ContainerRow(TypedDict):
    id: str
    created_at: int
    name: str
    status: str  # running | expired (a deleted container is gone)
    expires_minutes: int  # idle minutes after last_active_at before it expires
    last_active_at: int
    memory_limit: str


class ContainerFileRow(TypedDict):
    id: str
    container_id: str
    created_at: int
    bytes: int
    container_path: str  # /mnt/data/<name>: where the code finds it (the wire's `path`)
    source: str  # "user" (uploaded or copied from a File) or "assistant" (the code wrote it)
    blob: str  # where its bytes are, under the files dir


class ResponseEventRow(TypedDict):
    response_id: str
    number: int  # the event's sequence_number
    event: JsonObject


class ResponseItemRow(TypedDict):
    id: str
    response_id: str
    role: str  # "input" (this response's input, in order) or "output"
    item: ItemJson


class ConversationRow(TypedDict):
    id: str
    created_at: int
    metadata: Metadata


class ConversationItemRow(TypedDict):
    id: str
    conversation_id: str
    item: ItemJson
