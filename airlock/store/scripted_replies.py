"""The scripted model's reply queue, kept in the store so every worker (and process) sees one
queue: replies per thread or global, consumed in order."""

from __future__ import annotations

from sqlalchemy import Connection, case, delete, select

from airlock.store import crud
from airlock.store.records import JsonObject, ScriptedReplyRow
from airlock.store.tables import ScriptedReply


def push(conn: Connection, replies: list[JsonObject], thread_id: str | None) -> int:
    for reply in replies:
        crud.add(conn, ScriptedReply, ScriptedReplyRow(thread_id=thread_id, reply=reply))
    return len(replies)


def pop(conn: Connection, thread_id: str | None) -> JsonObject | None:
    """The next reply for this thread, else the next global one, in one statement. Replicas
    popping at once (PostgreSQL) each take a different reply: SKIP LOCKED."""
    t = crud.table_of(ScriptedReply)
    q = t.alias("next")
    global_ = q.c.thread_id.is_(None)
    pick = (select(q.c.seq).where((q.c.thread_id == thread_id) | global_)
            .order_by(case((global_, 1), else_=0), q.c.seq).limit(1)
            .with_for_update(skip_locked=True, of=q))
    reply: JsonObject | None = conn.execute(
        delete(t).where(t.c.seq == pick.scalar_subquery()).returning(t.c.reply)).scalar()
    return reply


def queued(conn: Connection, thread_id: str | None) -> list[JsonObject]:
    """What this thread's queue holds (the global queue for None), in the order it is consumed."""
    t = crud.table_of(ScriptedReply)
    where = t.c.thread_id.is_(None) if thread_id is None else t.c.thread_id == thread_id
    return [row.reply for row in conn.execute(select(t.c.reply).where(where).order_by(t.c.seq))]


def clear(conn: Connection, thread_id: str | None) -> int:
    t = crud.table_of(ScriptedReply)
    q = delete(t) if thread_id is None else delete(t).where(t.c.thread_id == thread_id)
    return int(conn.execute(q).rowcount)
