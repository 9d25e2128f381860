"""Vector-store queries shared by the API and the engine's search and ingestion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, select

from airlock.store import crud
from airlock.store.records import ExpiresAfter
from airlock.store.tables import VectorStore, VectorStoreFile

DAY = 86_400


def expires_at(expires_after: ExpiresAfter | None, last_active_at: int) -> int | None:
    return last_active_at + expires_after["days"] * DAY if expires_after else None


def touch(conn: Connection, store_ids: list[str]) -> None:
    """Marks the stores used now, which pushes back a last_active_at expiry."""
    now = crud.now()
    t = crud.table_of(VectorStore)
    for row in conn.execute(select(t.c.id, t.c.expires_after).where(t.c.id.in_(store_ids))).all():
        crud.change(conn, VectorStore, row.id, {
            "last_active_at": now, "expires_at": expires_at(row.expires_after, now)})


def completed_files(conn: Connection, store_ids: list[str]) -> list[Row[Any]]:
    """(vector_store_id, id, attributes) of every searchable file in these stores."""
    t = crud.table_of(VectorStoreFile)
    return list(conn.execute(select(t.c.vector_store_id, t.c.id, t.c.attributes).where(
        t.c.vector_store_id.in_(store_ids), t.c.status == "completed")))


def pending_files(conn: Connection, store_ids: list[str]) -> int:
    """How many files of these stores are still being ingested."""
    t = crud.table_of(VectorStoreFile)
    return int(conn.execute(select(func.count()).where(
        t.c.vector_store_id.in_(store_ids), t.c.status == "in_progress")).scalar_one())
