"""The scripted model's reply queue, kept in the store so every worker process sees one queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select

from airlock.engine.store import crud
from airlock.engine.store.tables import ScriptedReply


def push(conn: Connection, replies: list[dict[str, Any]], thread_id: str | None) -> int:
    for reply in replies:
        crud.add(conn, ScriptedReply, {"thread_id": thread_id, "reply": reply})
    return len(replies)


def pop(conn: Connection, thread_id: str | None) -> dict[str, Any] | None:
    """The next reply for this thread, else the next global one."""
    t = crud.table_of(ScriptedReply)
    for where in (t.c.thread_id == thread_id, t.c.thread_id.is_(None)):
        row = conn.execute(select(t).where(where).order_by(t.c.seq).limit(1)).first()
        if row is not None:
            conn.execute(delete(t).where(t.c.seq == row.seq))
            return row.reply
    return None


def clear(conn: Connection, thread_id: str | None) -> int:
    t = crud.table_of(ScriptedReply)
    q = delete(t) if thread_id is None else delete(t).where(t.c.thread_id == thread_id)
    return conn.execute(q).rowcount
