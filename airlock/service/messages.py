"""Messages: request content turned into stored content parts; attachments for file_search
join the thread's own vector store (waking ingestion); no new message while a run is active."""

from __future__ import annotations

from sqlalchemy import Connection

from airlock.engine import run_state
from airlock.errors import InvalidRequest, NotFound
from airlock.service import vector_stores
from airlock.service.commands import ContentIn, MessageFields, MetadataFields
from airlock.service.context import Context
from airlock.service.listing import Listed, page_items
from airlock.service.paging import PageParams
from airlock.service.references import require_file
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import Attachment, ContentPart, MessageRow, ThreadRow
from airlock.store.tables import Message, Thread

KIND = "message"


def content_parts(conn: Connection, content: str | list[ContentIn], param: str
                  ) -> list[ContentPart]:
    if isinstance(content, str):
        if not content:
            raise InvalidRequest("Message content must be non-empty.", param=param)
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts: list[ContentPart] = []
    for i, part in enumerate(content):
        if part["type"] == "text":
            parts.append({"type": "text", "text": {"value": part["text"], "annotations": []}})
        elif part["type"] == "image_file":
            require_file(conn, part["image_file"]["file_id"], f"{param}[{i}].image_file.file_id")
            parts.append({"type": "image_file", "image_file": part["image_file"]})
        else:
            parts.append({"type": "image_url", "image_url": part["image_url"]})
    return parts


def attachments(conn: Connection, items: list[Attachment] | None, param: str
                ) -> list[Attachment]:
    out: list[Attachment] = []
    for i, item in enumerate(items or []):
        require_file(conn, item["file_id"], f"{param}[{i}].file_id")
        out.append({"file_id": item["file_id"], "tools": item.get("tools", [])})
    return out


def build(conn: Connection, thread_id: str, fields: MessageFields, param: str = ""
          ) -> MessageRow:
    """A new user- or client-written message row (not yet stored); `param` prefixes error params."""
    created = crud.now()
    return {
        "id": new_id("message"),
        "thread_id": thread_id,
        "created_at": created,
        "role": fields["role"],
        "content": content_parts(conn, fields["content"], f"{param}content"),
        "status": "completed",
        "incomplete_details": None,
        "completed_at": created,
        "incomplete_at": None,
        "assistant_id": None,
        "run_id": None,
        "attachments": attachments(conn, fields.get("attachments"), f"{param}attachments"),
        "metadata": fields.get("metadata") or {},
    }


def add_to_thread(conn: Connection, thread: ThreadRow, rows: list[MessageRow]) -> None:
    """Stores built messages and files their file_search attachments in the thread's store."""
    for row in rows:
        crud.add(conn, Message, row)
    searchable = [a["file_id"] for row in rows for a in row["attachments"]
                  if any(tool["type"] == "file_search" for tool in a["tools"])]
    resources = vector_stores.attach(conn, thread, searchable)
    if resources is not None:
        crud.change(conn, Thread, thread["id"], {"tool_resources": resources})
        thread["tool_resources"] = resources


def _create(conn: Connection, thread_id: str, fields: MessageFields) -> MessageRow:
    thread = crud.get(conn, Thread, "thread", thread_id)
    run_id = run_state.active_run_id(conn, thread_id)
    if run_id is not None:
        raise InvalidRequest(
            f"Can't add messages to {thread_id} while a run {run_id} is active.", param=None)
    row = build(conn, thread_id, fields)
    add_to_thread(conn, thread, [row])
    return row


def _file_ids(message: MessageRow) -> list[str]:
    return list(dict.fromkeys(a["file_id"] for a in message["attachments"] or []))


class Messages:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, thread_id: str, fields: MessageFields) -> MessageRow:
        return await self.ctx.write_queueing_files(_create, thread_id, fields)

    async def retrieve(self, thread_id: str, message_id: str) -> MessageRow:
        return await self.ctx.store.read(crud.get_in_thread, Message, KIND, message_id, thread_id)

    async def update(self, thread_id: str, message_id: str, fields: MetadataFields
                     ) -> MessageRow:
        return await self.ctx.store.write(crud.update_in_thread, Message, KIND, message_id,
                                          thread_id, fields)

    async def page(self, thread_id: str, params: PageParams, run_id: str | None
                   ) -> tuple[list[MessageRow], bool]:
        scope = {"run_id": run_id} if run_id else {}
        return await self.ctx.store.read(crud.page_in_thread, Message, params, thread_id, **scope)

    async def page_files(self, thread_id: str, message_id: str, params: PageParams
                         ) -> tuple[MessageRow, list[str], bool]:
        """Assistants v1's message files (its attachments): the message, a page of file ids,
        whether more lie beyond."""
        message = await self.retrieve(thread_id, message_id)
        items, more = page_items([Listed(id=f) for f in _file_ids(message)], params)
        return message, [item["id"] for item in items], more

    async def file(self, thread_id: str, message_id: str, file_id: str) -> MessageRow:
        """The message, when `file_id` is attached to it; else a 404."""
        message = await self.retrieve(thread_id, message_id)
        if file_id not in _file_ids(message):
            raise NotFound("message file", file_id)
        return message

    async def delete(self, thread_id: str, message_id: str) -> None:
        await self.ctx.store.write(crud.delete_in_thread, Message, KIND, message_id, thread_id)
