"""Containers and their files in the store: expiry by idleness, and the blobs they hold.

A container expires when it has been idle (no code run, no file added) for its
`expires_minutes` after `last_active_at`. Readers see `expired` at once (`status_now`); the
sweeper makes it so in the store, deleting the files' rows, and the caller unlinks their bytes
and stops the kernel.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, select, update

from airlock.store import crud
from airlock.store.records import ContainerRow
from airlock.store.tables import Container, ContainerFile

RUNNING, EXPIRED = "running", "expired"


def status_now(row: ContainerRow, now: float | None = None) -> str:
    """The status a reader sees: `expired` as soon as the idle time has passed."""
    if row["status"] == RUNNING and (now or time.time()) >= due(row):
        return EXPIRED
    return row["status"]


def due(row: ContainerRow) -> int:
    return row["last_active_at"] + row["expires_minutes"] * 60


def touch(conn: Connection, container_id: str) -> None:
    """The container was used: its idle time starts again."""
    t = crud.table_of(Container)
    conn.execute(update(t).where(t.c.id == container_id, t.c.status == RUNNING)
                 .values(last_active_at=crud.now()))


def blobs_of(conn: Connection, container_id: str) -> list[str]:
    f = crud.table_of(ContainerFile)
    return list(conn.execute(select(f.c.blob).where(f.c.container_id == container_id))
                .scalars())


def all_blobs(conn: Connection) -> set[str]:
    """The blob names every container file points at (so start-up keeps them)."""
    return set(conn.execute(select(crud.table_of(ContainerFile).c.blob)).scalars())


def expire_due(conn: Connection) -> list[tuple[str, list[str]]]:
    """Running containers idle past their time become expired and lose their files; returns
    each with the blobs to unlink after commit."""
    t, f = crud.table_of(Container), crud.table_of(ContainerFile)
    ids = conn.execute(select(t.c.id).where(
        t.c.status == RUNNING,
        t.c.last_active_at + t.c.expires_minutes * 60 <= crud.now())).scalars().all()
    out = []
    for container_id in ids:
        blobs = blobs_of(conn, container_id)
        conn.execute(delete(f).where(f.c.container_id == container_id))
        conn.execute(update(t).where(t.c.id == container_id).values(status=EXPIRED))
        out.append((container_id, blobs))
    return out
