"""Thread affinity for code_interpreter across replicas: which replica holds a thread's kernel.

A kernel's variables live in one replica's memory. The replica that runs a thread's code records
itself here; the run queue (engine.run_state.claim_next) then leaves that thread's runs to it
while it is alive, so the state survives runs arriving through any replica. When the home
replica is gone, any replica takes the thread, starts a fresh kernel and the model is told.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, insert, select, update

from airlock.store import crud
from airlock.store.tables import KernelHome


def move_in(conn: Connection, thread_id: str, replica: str) -> str | None:
    """Makes `replica` the thread's kernel home; returns the replica that held it before, if
    another one did (its kernel, and the state in it, are not here)."""
    t = crud.table_of(KernelHome)
    before = conn.execute(select(t.c.replica).where(t.c.thread_id == thread_id)
                          .with_for_update()).scalar()
    if before is None:
        conn.execute(insert(t).values(thread_id=thread_id, replica=replica,
                                      updated_at=time.time()))
    else:
        conn.execute(update(t).where(t.c.thread_id == thread_id)
                     .values(replica=replica, updated_at=time.time()))
    return before if before not in (None, replica) else None


def forget(conn: Connection, kernel: str) -> None:
    """The thread or container is deleted: its kernel has no home any more."""
    t = crud.table_of(KernelHome)
    conn.execute(delete(t).where(t.c.thread_id == kernel))
