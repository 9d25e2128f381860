"""Threads: created with their first messages in one transaction; deleting one removes
everything in it and stops its code_interpreter kernel."""

from __future__ import annotations

from sqlalchemy import Connection, delete

from airlock.service import messages, tool_resources
from airlock.service.commands import ThreadFields
from airlock.service.context import Context, off_loop
from airlock.store import crud, kernel_homes
from airlock.store.ids import new_id
from airlock.store.records import ThreadRow
from airlock.store.tables import Message, Run, RunStep, Thread

KIND = "thread"


def insert(conn: Connection, fields: ThreadFields) -> ThreadRow:
    thread = ThreadRow(
        id=new_id("thread"),
        created_at=crud.now(),
        tool_resources=tool_resources.resolve(conn, fields.get("tool_resources"),
                                              "tool_resources"),
        metadata=fields.get("metadata") or {},
    )
    # Build every message before writing anything: one bad message rejects the whole request.
    rows = [messages.build(conn, thread["id"], m, f"messages[{i}].")
            for i, m in enumerate(fields.get("messages") or [])]
    crud.add(conn, Thread, thread)
    messages.add_to_thread(conn, thread, rows)
    return thread


def _update(conn: Connection, thread_id: str, fields: ThreadFields) -> ThreadRow:
    crud.get(conn, Thread, KIND, thread_id)
    changes: dict[str, object] = {**fields}
    if "tool_resources" in fields:
        changes["tool_resources"] = tool_resources.resolve(conn, fields["tool_resources"],
                                                           "tool_resources")
    if "metadata" in fields:
        changes["metadata"] = fields["metadata"] or {}
    crud.change(conn, Thread, thread_id, changes)
    return crud.get(conn, Thread, KIND, thread_id)


def _delete(conn: Connection, thread_id: str) -> None:
    crud.get(conn, Thread, KIND, thread_id)
    # Explicit deletes rather than trusting ON DELETE CASCADE: a database opened without
    # foreign-key enforcement must not keep orphans.
    for model in (RunStep, Message, Run):
        t = crud.table_of(model)
        conn.execute(delete(t).where(t.c.thread_id == thread_id))
    kernel_homes.forget(conn, thread_id)
    crud.remove(conn, Thread, thread_id)


class Threads:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, fields: ThreadFields) -> ThreadRow:
        return await self.ctx.write_queueing_files(insert, fields)

    async def retrieve(self, thread_id: str) -> ThreadRow:
        return await self.ctx.store.read(crud.get, Thread, KIND, thread_id)

    async def update(self, thread_id: str, fields: ThreadFields) -> ThreadRow:
        return await self.ctx.write_queueing_files(_update, thread_id, fields)

    async def delete(self, thread_id: str) -> None:
        await self.ctx.store.write(_delete, thread_id)
        # Its code_interpreter kernel stops and its /mnt/data goes, on whichever replica.
        await off_loop(self.ctx.background.drop_kernel, thread_id)
