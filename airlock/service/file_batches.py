"""File batches: many files added to a vector store at once. A batch's counts and status come
from its files on every read; only a cancel is stored."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from airlock.engine import ingestion_state
from airlock.errors import InvalidRequest, NotFound
from airlock.service import vector_store_files as vs_files
from airlock.service.commands import BatchFields, VectorStoreFileFields
from airlock.service.context import Context
from airlock.service.paging import PageParams
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import BatchObject, BatchRow, FileCounts, VectorStoreFileRow
from airlock.store.tables import VectorStore, VectorStoreFile, VectorStoreFileBatch

KIND = "vector store file batch"


def _create(conn: Connection, store_id: str, fields: BatchFields) -> BatchObject:
    crud.get(conn, VectorStore, vs_files.STORE_KIND, store_id)
    if fields.get("file_ids") and fields.get("files"):
        raise InvalidRequest("Give either 'file_ids' or 'files', not both.", param="files")
    default_chunking = vs_files.chunking(fields.get("chunking_strategy"), "chunking_strategy")
    items = fields.get("files") or [VectorStoreFileFields(file_id=f)
                                    for f in fields.get("file_ids") or []]
    if not items:
        raise InvalidRequest("A file batch needs at least one file in 'file_ids' or 'files'.",
                             param="file_ids")
    batch = crud.add(conn, VectorStoreFileBatch, BatchRow(
        id=new_id("file_batch"), vector_store_id=store_id, created_at=crud.now()),
        cancelled=False)
    param = "files" if fields.get("files") else "file_ids"
    for i, item in enumerate(items):
        item_chunking = item.get("chunking_strategy")
        strategy = (vs_files.chunking(item_chunking, f"files[{i}].chunking_strategy")
                    if item_chunking else default_chunking)
        vs_files.add(conn, store_id, item["file_id"], strategy=strategy, batch_id=batch["id"],
                     attributes=item.get("attributes", fields.get("attributes")),
                     param=f"{param}[{i}]" + (".file_id" if param == "files" else ""))
    return _get(conn, store_id, batch["id"])


def _get(conn: Connection, store_id: str, batch_id: str) -> BatchObject:
    crud.get(conn, VectorStore, vs_files.STORE_KIND, store_id)
    row = crud.find(conn, VectorStoreFileBatch, batch_id, vector_store_id=store_id)
    if row is None:
        raise NotFound(KIND, batch_id)
    batch = crud.to_object(VectorStoreFileBatch, row)
    t = crud.table_of(VectorStoreFile)
    counts = dict.fromkeys(("in_progress", "completed", "failed", "cancelled"), 0)
    for status, n in conn.execute(select(t.c.status, func.count()).where(
            t.c.batch_id == batch_id).group_by(t.c.status)).all():
        counts[status] = n
    status = ingestion_state.batch_status(counts, bool(row.cancelled))
    file_counts = FileCounts(in_progress=counts["in_progress"], completed=counts["completed"],
                             failed=counts["failed"], cancelled=counts["cancelled"],
                             total=sum(counts.values()))
    return {**batch, "status": status, "file_counts": file_counts}


def _cancel(conn: Connection, store_id: str, batch_id: str) -> BatchObject:
    """Files still waiting are cancelled now; one mid-ingestion is dropped when it finishes."""
    batch = _get(conn, store_id, batch_id)
    if batch["status"] != "in_progress":
        raise InvalidRequest(f"Cannot cancel a batch with status '{batch['status']}'.",
                             param="batch_id")
    ingestion_state.cancel_batch(conn, batch_id)
    crud.change(conn, VectorStoreFileBatch, batch_id, {"cancelled": True})
    return _get(conn, store_id, batch_id)


def _page_files(conn: Connection, store_id: str, batch_id: str, params: PageParams,
                status: str | None) -> tuple[list[VectorStoreFileRow], bool]:
    _get(conn, store_id, batch_id)
    return vs_files.page(conn, store_id, params, status, batch_id=batch_id)


class FileBatches:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, store_id: str, fields: BatchFields) -> BatchObject:
        return await self.ctx.write_queueing_files(_create, store_id, fields)

    async def retrieve(self, store_id: str, batch_id: str) -> BatchObject:
        return await self.ctx.store.read(_get, store_id, batch_id)

    async def cancel(self, store_id: str, batch_id: str) -> BatchObject:
        return await self.ctx.store.write(_cancel, store_id, batch_id)

    async def page_files(self, store_id: str, batch_id: str, params: PageParams,
                         status: str | None) -> tuple[list[VectorStoreFileRow], bool]:
        return await self.ctx.store.read(_page_files, store_id, batch_id, params, status)
