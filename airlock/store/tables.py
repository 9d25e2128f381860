"""The SQLAlchemy schema. Column names equal the wire field names so a row maps onto its object.

Every table has `seq`, an autoincrement key that fixes insertion order: `created_at` has one-second
resolution, so ordering and cursors use `seq` to stay stable among objects created in one second.
Columns in INTERNAL never reach the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    FromClause,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from airlock.store.records import (
    AssistantRow,
    BatchRow,
    ContainerFileRow,
    ContainerRow,
    ConversationItemRow,
    ConversationRow,
    FileRow,
    MessageRow,
    ResponseEventRow,
    ResponseItemRow,
    ResponseRow,
    RunRow,
    ScriptedReplyRow,
    StepRow,
    ThreadRow,
    VectorStoreFileRow,
    VectorStoreRow,
)

INTERNAL = frozenset({"seq", "path", "params", "backend", "queued_ns", "batch_id", "claim",
                      "cancelled", "claimed_by", "lease_until", "background", "command",
                      "kernel"})


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, Any: JSON}


# A row's TypedDict (store.records).
R = TypeVar("R", bound=Mapping[str, object])


class Rows(Generic[R]):
    """Names the TypedDict (store.records) a table's rows are read as, so store.crud returns
    e.g. a RunRow for Run."""

    if TYPE_CHECKING:
        __table__: ClassVar[FromClause]  # as Base has it: every user of Rows is a table


def _seq() -> Mapped[int]:
    return mapped_column(Integer, primary_key=True, autoincrement=True)


def _id() -> Mapped[str]:
    return mapped_column(String(64), unique=True, nullable=False)


class Assistant(Base, Rows[AssistantRow]):
    __tablename__ = "assistants"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    instructions: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    tool_resources: Mapped[Any] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    response_format: Mapped[Any] = mapped_column(JSON, nullable=True)
    reasoning_effort: Mapped[str | None] = mapped_column(String(32))


class Thread(Base, Rows[ThreadRow]):
    __tablename__ = "threads"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    tool_resources: Mapped[Any] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)


class Message(Base, Rows[MessageRow]):
    __tablename__ = "messages"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    thread_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("threads.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    incomplete_details: Mapped[Any] = mapped_column(JSON, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(Integer)
    incomplete_at: Mapped[int | None] = mapped_column(Integer)
    assistant_id: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    attachments: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)

    __table_args__ = (
        Index("ix_messages_thread_seq", "thread_id", "seq"),
        Index("ix_messages_run", "run_id"),
    )


class Run(Base, Rows[RunRow]):
    __tablename__ = "runs"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    thread_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("threads.id", ondelete="CASCADE"), nullable=False
    )
    assistant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    required_action: Mapped[Any] = mapped_column(JSON, nullable=True)
    last_error: Mapped[Any] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[int | None] = mapped_column(Integer)
    cancelled_at: Mapped[int | None] = mapped_column(Integer)
    failed_at: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[int | None] = mapped_column(Integer)
    incomplete_details: Mapped[Any] = mapped_column(JSON, nullable=True)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    instructions: Mapped[str] = mapped_column(Text, nullable=False)
    tools: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    tool_resources: Mapped[Any] = mapped_column(JSON, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)
    usage: Mapped[Any] = mapped_column(JSON, nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    max_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    max_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    truncation_strategy: Mapped[Any] = mapped_column(JSON, nullable=False)
    tool_choice: Mapped[Any] = mapped_column(JSON, nullable=False)
    parallel_tool_calls: Mapped[bool] = mapped_column(Boolean, nullable=False)
    response_format: Mapped[Any] = mapped_column(JSON, nullable=False)
    # What the engine needs to build the prompt but the Run object does not show
    # (additional_instructions, additional_messages' ids, include[], ...).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # The registry entry that serves this run (the wire `model` keeps the name the client asked for).
    backend: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Position in the turn queue: set each time the run (re)enters `queued`, so a run coming back
    # for another turn waits behind runs queued before it.
    queued_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The replica whose worker runs the turn, and until when (epoch seconds) its claim holds;
    # the replica renews it while it works, and any replica ends a run whose lease lapsed.
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_runs_thread_seq", "thread_id", "seq"),
        Index("ix_runs_status", "status"),
        Index("ix_runs_queue", "status", "backend", "queued_ns"),
    )


class RunStep(Base, Rows[StepRow]):
    __tablename__ = "run_steps"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    thread_id: Mapped[str] = mapped_column(String(64), nullable=False)
    assistant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    step_details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    last_error: Mapped[Any] = mapped_column(JSON, nullable=True)
    expired_at: Mapped[int | None] = mapped_column(Integer)
    cancelled_at: Mapped[int | None] = mapped_column(Integer)
    failed_at: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)
    usage: Mapped[Any] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_run_steps_run_seq", "run_id", "seq"),)


class File(Base, Rows[FileRow]):
    __tablename__ = "files"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    status_details: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[int | None] = mapped_column(Integer)
    # Relative to the data dir's files/ folder, so a data dir can be moved whole.
    path: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_files_purpose_seq", "purpose", "seq"),)


class VectorStore(Base, Rows[VectorStoreRow]):
    """A store's file_counts, usage_bytes and status are derived from its files when read, so
    they can never disagree with the files the SDK's poll helpers look at."""

    __tablename__ = "vector_stores"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    expires_after: Mapped[Any] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[int | None] = mapped_column(Integer)
    last_active_at: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)


class VectorStoreFile(Base, Rows[VectorStoreFileRow]):
    """A File in a vector store. Its id is the File's id, so (vector_store_id, id) is the key."""

    __tablename__ = "vector_store_files"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = mapped_column(String(64), nullable=False)
    vector_store_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    usage_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    last_error: Mapped[Any] = mapped_column(JSON, nullable=True)
    chunking_strategy: Mapped[Any] = mapped_column(JSON, nullable=False)
    attributes: Mapped[Any] = mapped_column(JSON, nullable=True)
    batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Which ingestion worker holds this file; null while it waits (and again after a restart).
    claim: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Until when the claim holds (epoch seconds); a lapsed claim is cleared and the file queued again.
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ux_vector_store_files_store_file", "vector_store_id", "id", unique=True),
        Index("ix_vector_store_files_store_seq", "vector_store_id", "seq"),
        Index("ix_vector_store_files_batch", "batch_id"),
        Index("ix_vector_store_files_file", "id"),
        Index("ix_vector_store_files_queue", "status", "claim"),
    )


class VectorStoreFileBatch(Base, Rows[BatchRow]):
    """Counts and status come from the batch's files; only a cancel is stored."""

    __tablename__ = "vector_store_file_batches"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    vector_store_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ScriptedReply(Base, Rows[ScriptedReplyRow]):
    """Replies queued for the scripted model, per thread or global, consumed in order."""

    __tablename__ = "scripted_replies"
    seq: Mapped[int] = _seq()
    thread_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reply: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_scripted_replies_thread_seq", "thread_id", "seq"),)


class BusLog(Base):
    """Every replica-to-replica message of the last few minutes (store.bus): a listener that
    reconnects reads what it missed here, and a message too big for a NOTIFY payload (8000
    bytes) is read here by every listener (the notification carries its seq)."""

    __tablename__ = "bus_log"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                     primary_key=True, autoincrement=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_bus_log_created_at", "created_at"),)


class KernelHome(Base):
    """Replicas on PostgreSQL: the replica whose code_interpreter kernel holds a thread's (or a
    container's) state. While that replica is alive, only its workers claim the thread's runs
    (engine.run_state). `thread_id` is the kernel's key: a thread's id or a container's, so no
    foreign key; deleting either forgets its home (store.kernel_homes.forget)."""

    __tablename__ = "kernel_homes"
    thread_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    replica: Mapped[str] = mapped_column(String(128), nullable=False)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)


class SearchChunk(Base):
    """PostgreSQL only (store.pg_keywords): file_search chunk texts, searched with full-text
    search through a generated `tsv` tsvector column and its GIN index, which the migration
    adds (SQLite keeps an FTS5 file in the data dir instead)."""

    __tablename__ = "search_chunks"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(String(64), nullable=False)
    file_id: Mapped[str] = mapped_column(String(64), nullable=False)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        Index("ux_search_chunks_key", "store_id", "file_id", "chunk_index", unique=True),)


class Response(Base, Rows[ResponseRow]):
    """A stored response (store=true). Its input and output items are ResponseItem rows too:
    input_items pages them, and item_reference finds an item by id in them."""

    __tablename__ = "responses"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    # No foreign keys: a chain or a conversation may outlive a deleted link, and says so (404).
    previous_response_id: Mapped[str | None] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # A background response is queued work, as a run is (service.background_responses): the
    # request to run, the backend whose worker claims it, and the claim's holder and lease.
    background: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    command: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    backend: Mapped[str | None] = mapped_column(Text, nullable=True)
    queued_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The container its code runs in: on replicas, the one holding its kernel claims it.
    kernel: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_responses_queue", "status", "backend", "queued_ns"),)


class Container(Base, Rows[ContainerRow]):
    """A code_interpreter container of the Responses API: a kernel of the sandbox, keyed by
    the container's id, with its files. Expiry is by idleness (service.containers)."""

    __tablename__ = "containers"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    expires_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    last_active_at: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_limit: Mapped[str] = mapped_column(String(8), nullable=False)

    __table_args__ = (Index("ix_containers_name", "name"),)


class ContainerFile(Base, Rows[ContainerFileRow]):
    __tablename__ = "container_files"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    container_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("containers.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    container_path: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    blob: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_container_files_container", "container_id", "seq"),)


class ResponseEvent(Base, Rows[ResponseEventRow]):
    """A background response's stream, event by event, as it was sent: replayed to whoever
    streams it again (GET ?stream=true&starting_after=N). `number` is the event's
    sequence_number; one writer at a time holds the response's row lock to append."""

    __tablename__ = "response_events"
    seq: Mapped[int] = _seq()
    response_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("responses.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    event: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ux_response_events_number", "response_id", "number", unique=True),)


class ResponseItem(Base, Rows[ResponseItemRow]):
    __tablename__ = "response_items"
    seq: Mapped[int] = _seq()
    # Not unique: clients send earlier output items back as input with their ids.
    id: Mapped[str] = mapped_column(String(64), nullable=False)
    response_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("responses.id", ondelete="CASCADE"), nullable=False)
    role: Mapped[str] = mapped_column(String(8), nullable=False)
    item: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_response_items_response_seq", "response_id", "seq"),
                      Index("ix_response_items_id", "id"))


class Conversation(Base, Rows[ConversationRow]):
    __tablename__ = "conversations"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = _id()
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)


class ConversationItem(Base, Rows[ConversationItemRow]):
    __tablename__ = "conversation_items"
    seq: Mapped[int] = _seq()
    id: Mapped[str] = mapped_column(String(64), nullable=False)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    item: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_conversation_items_conv_seq", "conversation_id", "seq"),
        # An item id appears once in a conversation (a duplicate is a 400, as on OpenAI).
        Index("ux_conversation_items_id", "conversation_id", "id", unique=True))
