"""Vector stores: counts, usage and status derived from their files on every read; creating one
with files wakes ingestion, deleting one drops its index."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from airlock.engine.search import Result, rewrite
from airlock.service import vector_store_files as vs_files
from airlock.service.commands import NewVectorStore
from airlock.service.context import Context, off_loop
from airlock.service.paging import PageParams
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import (
    ExpiresAfter,
    FileCounts,
    Filter,
    ThreadRow,
    ToolResources,
    VectorStoreObject,
    VectorStoreRow,
)
from airlock.store.tables import VectorStore, VectorStoreFile, VectorStoreFileBatch
from airlock.store.vector_stores import expires_at

KIND = vs_files.STORE_KIND
# Stores made for a thread's message attachments expire after a week unused.
THREAD_STORE_EXPIRY: ExpiresAfter = {"anchor": "last_active_at", "days": 7}
STATUSES = ("in_progress", "completed", "failed", "cancelled")


def insert(conn: Connection, fields: NewVectorStore, param: str = "") -> VectorStoreObject:
    """A new store with its files queued; `param` prefixes error params when the store is made
    inside another request."""
    now = crud.now()
    expires_after = fields.get("expires_after")
    row = crud.add(conn, VectorStore, VectorStoreRow(
        id=new_id("vector_store"), created_at=now, name=fields.get("name") or "",
        description=fields.get("description"), expires_after=expires_after,
        expires_at=expires_at(expires_after, now), last_active_at=now,
        metadata=fields.get("metadata") or {},
    ))
    strategy = vs_files.chunking(fields.get("chunking_strategy"), f"{param}chunking_strategy")
    for i, file_id in enumerate(fields.get("file_ids") or []):
        vs_files.add(conn, row["id"], file_id, strategy=strategy, param=f"{param}file_ids[{i}]")
    return get(conn, row["id"])


def get(conn: Connection, store_id: str) -> VectorStoreObject:
    return with_counts(conn, [crud.get(conn, VectorStore, KIND, store_id)])[0]


def with_counts(conn: Connection, rows: list[VectorStoreRow]) -> list[VectorStoreObject]:
    """Adds file_counts, usage_bytes and status, read from the stores' files in one query."""
    t = crud.table_of(VectorStoreFile)
    ids = [r["id"] for r in rows]
    tallies = conn.execute(
        select(t.c.vector_store_id, t.c.status, func.count(),
               func.coalesce(func.sum(t.c.usage_bytes), 0))
        .where(t.c.vector_store_id.in_(ids)).group_by(t.c.vector_store_id, t.c.status)
    ).all() if ids else []
    counts: dict[str, dict[str, int]] = {i: dict.fromkeys(STATUSES, 0) for i in ids}
    usage: dict[str, int] = dict.fromkeys(ids, 0)
    for store_id, status, n, size in tallies:
        counts[store_id][status] = n
        usage[store_id] += int(size)
    now = crud.now()
    out: list[VectorStoreObject] = []
    for row in rows:
        c = counts[row["id"]]
        if row["expires_at"] is not None and row["expires_at"] <= now:
            status = "expired"
        else:
            status = "in_progress" if c["in_progress"] else "completed"
        file_counts = FileCounts(in_progress=c["in_progress"], completed=c["completed"],
                                 failed=c["failed"], cancelled=c["cancelled"],
                                 total=sum(c.values()))
        out.append({**row, "usage_bytes": usage[row["id"]], "status": status,
                    "file_counts": file_counts})
    return out


def attach(conn: Connection, thread: ThreadRow, file_ids: list[str]) -> ToolResources | None:
    """Message attachments for file_search join the thread's own store (its first vector
    store, else a new one); returns the new tool_resources when they changed (the caller
    stores them), else None."""
    if not file_ids:
        return None
    resources: ToolResources = {**(thread["tool_resources"] or {})}
    ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
    store_id = ids[0] if ids else insert(conn, {
        "name": f"vector store for {thread['id']}", "expires_after": THREAD_STORE_EXPIRY})["id"]
    t = crud.table_of(VectorStoreFile)
    present = set(conn.execute(select(t.c.id).where(t.c.vector_store_id == store_id)).scalars())
    for file_id in dict.fromkeys(file_ids):
        if file_id not in present:
            vs_files.add(conn, store_id, file_id)
    if ids == [store_id]:
        return None
    resources["file_search"] = {"vector_store_ids": [store_id]}
    return resources


def _update(conn: Connection, store_id: str, fields: NewVectorStore) -> VectorStoreObject:
    row = crud.get(conn, VectorStore, KIND, store_id)
    changes: dict[str, object] = {**fields}
    if "name" in changes:
        changes["name"] = changes["name"] or ""
    if "metadata" in changes:
        changes["metadata"] = changes["metadata"] or {}
    if "expires_after" in changes:
        changes["expires_at"] = expires_at(fields.get("expires_after"), row["last_active_at"])
    crud.change(conn, VectorStore, store_id, changes)
    return get(conn, store_id)


def _page(conn: Connection, params: PageParams) -> tuple[list[VectorStoreObject], bool]:
    rows, more = crud.page(conn, VectorStore, params)
    return with_counts(conn, rows), more


def _delete(conn: Connection, store_id: str) -> None:
    crud.get(conn, VectorStore, KIND, store_id)
    # Explicit deletes rather than trusting ON DELETE CASCADE: a database opened without
    # foreign-key enforcement must not keep orphans.
    for model in (VectorStoreFile, VectorStoreFileBatch):
        t = crud.table_of(model)
        conn.execute(t.delete().where(t.c.vector_store_id == store_id))
    crud.remove(conn, VectorStore, store_id)


class VectorStores:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, fields: NewVectorStore) -> VectorStoreObject:
        return await self.ctx.write_queueing_files(insert, fields)

    async def retrieve(self, store_id: str) -> VectorStoreObject:
        return await self.ctx.store.read(get, store_id)

    async def update(self, store_id: str, fields: NewVectorStore) -> VectorStoreObject:
        return await self.ctx.store.write(_update, store_id, fields)

    async def page(self, params: PageParams) -> tuple[list[VectorStoreObject], bool]:
        return await self.ctx.store.read(_page, params)

    async def delete(self, store_id: str) -> None:
        await self.ctx.store.write(_delete, store_id)
        await off_loop(self.ctx.background.search.drop_store, store_id)

    async def search(self, store_id: str, queries: list[str], *, rewrite_query: bool, k: int,
                     threshold: float, flt: Filter | None, semantic_only: bool
                     ) -> tuple[str, list[Result]]:
        """(the query searched, results). `semantic_only` turns rank fusion off."""
        await self.ctx.store.read(get, store_id)
        if rewrite_query:
            queries = [rewrite(q) for q in queries]
        search = self.ctx.background.search
        query: str | list[str] = queries if len(queries) > 1 else queries[0]
        # Embedding the query is CPU work: off the event loop.
        results = await off_loop(lambda: search.search(
            [store_id], query, k=k, threshold=threshold, flt=flt,
            mode="vector" if semantic_only else "hybrid"))
        return " ".join(queries), results
