"""Messages: request content turned into stored content parts, and the one-active-run rule."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from airlock.engine import references, vector_stores
from airlock.engine.ids import new_id
from airlock.engine.store import crud
from airlock.engine.store.tables import Message, Run, Thread
from airlock.errors import InvalidRequest

KIND = "message"
ACTIVE_RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")


def active_run_id(conn: Connection, thread_id: str) -> str | None:
    t = crud.table_of(Run)
    q = select(t.c.id).where(t.c.thread_id == thread_id, t.c.status.in_(ACTIVE_RUN_STATUSES))
    return conn.execute(q.limit(1)).scalar()


def content_parts(conn: Connection, content: str | list[dict[str, Any]], param: str) -> list[dict]:
    if isinstance(content, str):
        if not content:
            raise InvalidRequest("Message content must be non-empty.", param=param)
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts = []
    for i, part in enumerate(content):
        if part["type"] == "text":
            parts.append({"type": "text", "text": {"value": part["text"], "annotations": []}})
        else:
            if part["type"] == "image_file":
                references.require_file(
                    conn, part["image_file"]["file_id"], f"{param}[{i}].image_file.file_id"
                )
            parts.append(part)
    return parts


def attachments(conn: Connection, items: list[dict[str, Any]] | None, param: str) -> list[dict]:
    out = []
    for i, item in enumerate(items or []):
        references.require_file(conn, item["file_id"], f"{param}[{i}].file_id")
        out.append({"file_id": item["file_id"], "tools": item.get("tools", [])})
    return out


def build(
    conn: Connection, thread_id: str, fields: dict[str, Any], param: str = ""
) -> dict[str, Any]:
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


def searchable_files(rows: list[dict[str, Any]]) -> list[str]:
    """Files attached to these messages for file_search: they go into the thread's store."""
    return [a["file_id"] for row in rows for a in row["attachments"]
            if any(tool["type"] == "file_search" for tool in a["tools"])]


def add_to_thread(conn: Connection, thread: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Stores built messages and files their file_search attachments in the thread's store."""
    for row in rows:
        crud.add(conn, Message, row)
    resources = vector_stores.attach(conn, thread, searchable_files(rows))
    if resources is not None:
        crud.change(conn, Thread, thread["id"], {"tool_resources": resources})
        thread["tool_resources"] = resources


def create(conn: Connection, thread_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    thread = crud.get(conn, Thread, "thread", thread_id)
    run_id = active_run_id(conn, thread_id)
    if run_id is not None:
        raise InvalidRequest(
            f"Can't add messages to {thread_id} while a run {run_id} is active.", param=None
        )
    row = build(conn, thread_id, fields)
    add_to_thread(conn, thread, [row])
    return {k: v for k, v in row.items() if k != "seq"}
