"""Threads: created together with their first messages, deleted together with everything in them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete

from airlock.engine import messages, references
from airlock.engine.ids import new_id
from airlock.engine.store import crud
from airlock.engine.store.tables import Message, Run, RunStep, Thread

KIND = "thread"


def create(conn: Connection, fields: dict[str, Any]) -> dict[str, Any]:
    thread = {
        "id": new_id("thread"),
        "created_at": crud.now(),
        "tool_resources": references.tool_resources(
            conn, fields.get("tool_resources"), "tool_resources"
        ),
        "metadata": fields.get("metadata") or {},
    }
    # Build every message before writing anything: one bad message rejects the whole request.
    rows = [
        messages.build(conn, thread["id"], m, f"messages[{i}].")
        for i, m in enumerate(fields.get("messages") or [])
    ]
    crud.add(conn, Thread, thread)
    messages.add_to_thread(conn, thread, rows)
    return thread


def update(conn: Connection, thread_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    crud.get(conn, Thread, KIND, thread_id)
    changes = dict(fields)
    if "tool_resources" in changes:
        changes["tool_resources"] = references.tool_resources(
            conn, changes["tool_resources"], "tool_resources"
        )
    if "metadata" in changes:
        changes["metadata"] = changes["metadata"] or {}
    crud.change(conn, Thread, thread_id, changes)
    return crud.get(conn, Thread, KIND, thread_id)


def delete_thread(conn: Connection, thread_id: str) -> None:
    crud.get(conn, Thread, KIND, thread_id)
    # Explicit deletes rather than trusting ON DELETE CASCADE: a database opened without
    # foreign-key enforcement must not keep orphans.
    for model in (RunStep, Message, Run):
        t = crud.table_of(model)
        conn.execute(delete(t).where(t.c.thread_id == thread_id))
    crud.remove(conn, Thread, thread_id)
