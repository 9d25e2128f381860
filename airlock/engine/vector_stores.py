"""Vector stores: the store rows, with counts, usage and status derived from their files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from airlock.engine import vector_store_files as vs_files
from airlock.engine.ids import new_id
from airlock.engine.store import crud
from airlock.engine.store.tables import VectorStore, VectorStoreFile, VectorStoreFileBatch
from airlock.errors import InvalidRequest

KIND = "vector store"
DAY = 86_400
# Stores made for a thread's message attachments (contract §6).
THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}
STATUSES = ("in_progress", "completed", "failed", "cancelled")


def _expires_at(expires_after: dict[str, Any] | None, last_active_at: int) -> int | None:
    return last_active_at + expires_after["days"] * DAY if expires_after else None


def create(conn: Connection, fields: dict[str, Any], param: str = "") -> dict[str, Any]:
    """`param` prefixes error params when the store is made inside another request."""
    now = crud.now()
    expires_after = fields.get("expires_after")
    row = crud.add(conn, VectorStore, {
        "id": new_id("vector_store"), "created_at": now, "name": fields.get("name") or "",
        "description": fields.get("description"), "expires_after": expires_after,
        "expires_at": _expires_at(expires_after, now), "last_active_at": now,
        "metadata": fields.get("metadata") or {},
    })
    chunking = vs_files.chunking(fields.get("chunking_strategy"), f"{param}chunking_strategy")
    for i, file_id in enumerate(fields.get("file_ids") or []):
        vs_files.add(conn, row["id"], file_id, chunking=chunking, param=f"{param}file_ids[{i}]")
    return get(conn, row["id"])


def get(conn: Connection, store_id: str) -> dict[str, Any]:
    return with_counts(conn, [crud.get(conn, VectorStore, KIND, store_id)])[0]


def require(conn: Connection, store_id: str, param: str) -> None:
    """A reference to a store from another object: a missing one is a bad request, not a 404."""
    if crud.find(conn, VectorStore, store_id) is None:
        raise InvalidRequest(f"No vector store found with id '{store_id}'.", param=param)


def update(conn: Connection, store_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    row = crud.get(conn, VectorStore, KIND, store_id)
    changes = dict(fields)
    if "name" in changes:
        changes["name"] = changes["name"] or ""
    if "metadata" in changes:
        changes["metadata"] = changes["metadata"] or {}
    if "expires_after" in changes:
        changes["expires_at"] = _expires_at(changes["expires_after"], row["last_active_at"])
    crud.change(conn, VectorStore, store_id, changes)
    return get(conn, store_id)


def page(conn: Connection, params: crud.PageParams) -> tuple[list[dict[str, Any]], bool]:
    rows, more = crud.page(conn, VectorStore, params)
    return with_counts(conn, rows), more


def delete(conn: Connection, store_id: str) -> None:
    crud.get(conn, VectorStore, KIND, store_id)
    # Explicit, as for threads: a database without foreign-key enforcement keeps no orphans.
    for model in (VectorStoreFile, VectorStoreFileBatch):
        t = crud.table_of(model)
        conn.execute(t.delete().where(t.c.vector_store_id == store_id))
    crud.remove(conn, VectorStore, store_id)


def touch(conn: Connection, store_ids: list[str]) -> None:
    """Marks the stores used now, which pushes back a last_active_at expiry."""
    now = crud.now()
    for row in conn.execute(select(crud.table_of(VectorStore)).where(
            crud.table_of(VectorStore).c.id.in_(store_ids))).all():
        crud.change(conn, VectorStore, row.id, {
            "last_active_at": now, "expires_at": _expires_at(row.expires_after, now)})


def with_counts(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds file_counts, usage_bytes and status, read from the stores' files in one query."""
    t = crud.table_of(VectorStoreFile)
    ids = [r["id"] for r in rows]
    tallies = conn.execute(
        select(t.c.vector_store_id, t.c.status, func.count(), func.coalesce(func.sum(t.c.usage_bytes), 0))
        .where(t.c.vector_store_id.in_(ids)).group_by(t.c.vector_store_id, t.c.status)
    ).all() if ids else []
    counts: dict[str, dict[str, int]] = {i: dict.fromkeys(STATUSES, 0) for i in ids}
    usage: dict[str, int] = dict.fromkeys(ids, 0)
    for store_id, status, n, size in tallies:
        counts[store_id][status] = n
        usage[store_id] += int(size)
    now = crud.now()
    out = []
    for row in rows:
        c = counts[row["id"]]
        if row["expires_at"] is not None and row["expires_at"] <= now:
            status = "expired"
        else:
            status = "in_progress" if c["in_progress"] else "completed"
        out.append({**row, "usage_bytes": usage[row["id"]], "status": status,
                    "file_counts": {**c, "total": sum(c.values())}})
    return out


def thread_store(conn: Connection, thread_id: str, resources: dict[str, Any]) -> str:
    """The thread's own store for attachments: its first vector store, else a new one."""
    ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
    if ids:
        return ids[0]
    return create(conn, {"name": f"vector store for {thread_id}",
                         "expires_after": THREAD_STORE_EXPIRY})["id"]


def attach(conn: Connection, thread: dict[str, Any], file_ids: list[str]) -> dict[str, Any] | None:
    """Message attachments for file_search join the thread's store; returns the new
    tool_resources when they changed (the caller stores them), else None."""
    if not file_ids:
        return None
    resources = dict(thread.get("tool_resources") or {})
    store_id = thread_store(conn, thread["id"], resources)
    t = crud.table_of(VectorStoreFile)
    present = set(conn.execute(select(t.c.id).where(t.c.vector_store_id == store_id)).scalars())
    for file_id in dict.fromkeys(file_ids):
        if file_id not in present:
            vs_files.add(conn, store_id, file_id)
    if (resources.get("file_search") or {}).get("vector_store_ids") == [store_id]:
        return None
    resources["file_search"] = {"vector_store_ids": [store_id]}
    return resources
