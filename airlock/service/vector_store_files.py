"""Files in vector stores: adding one queues it for ingestion (the workers are woken), removing
one drops its chunks from the index. A vector-store file's id is the File's id."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, select, update

from airlock.engine import ingestion_state
from airlock.errors import InvalidRequest
from airlock.service.commands import ChunkingIn, VectorStoreFileFields
from airlock.service.context import Context, off_loop
from airlock.service.paging import PageParams
from airlock.service.references import require_file
from airlock.store import crud, files
from airlock.store.records import Attributes, ChunkingStrategy, FileRow, VectorStoreFileRow
from airlock.store.tables import VectorStore, VectorStoreFile

KIND = "vector store file"
STORE_KIND = "vector store"
AUTO: ChunkingStrategy = {
    "type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}


def chunking(strategy: ChunkingIn | None, param: str) -> ChunkingStrategy:
    """The stored (always static) form of a request's chunking_strategy: auto is 800/400."""
    if not strategy or strategy["type"] == "auto":
        return AUTO
    static = strategy.get("static")
    if static is None:
        raise InvalidRequest("A static chunking_strategy needs 'static'.", param=f"{param}.static")
    size = static.get("max_chunk_size_tokens", 800)
    overlap = static.get("chunk_overlap_tokens", 400)
    if overlap > size // 2:
        raise InvalidRequest(
            f"Invalid 'chunk_overlap_tokens': {overlap} exceeds half of max_chunk_size_tokens "
            f"({size}).", param=f"{param}.static.chunk_overlap_tokens")
    return {"type": "static", "static": {"max_chunk_size_tokens": size,
                                         "chunk_overlap_tokens": overlap}}


def add(conn: Connection, store_id: str, file_id: str, *, strategy: ChunkingStrategy = AUTO,
        attributes: Attributes | None = None, batch_id: str | None = None,
        param: str = "file_id") -> VectorStoreFileRow:
    """Queues the file for ingestion into the store; adding it again re-ingests it."""
    require_file(conn, file_id, param)
    return ingestion_state.queue(conn, store_id, file_id, strategy=strategy,
                                 attributes=attributes, batch_id=batch_id)


def get(conn: Connection, store_id: str, file_id: str) -> VectorStoreFileRow:
    crud.get(conn, VectorStore, STORE_KIND, store_id)
    return crud.get(conn, VectorStoreFile, KIND, file_id, vector_store_id=store_id)


def page(conn: Connection, store_id: str, params: PageParams, status: str | None,
         batch_id: str | None = None) -> tuple[list[VectorStoreFileRow], bool]:
    crud.get(conn, VectorStore, STORE_KIND, store_id)
    scope = {"vector_store_id": store_id}
    if status:
        scope["status"] = status
    if batch_id:
        scope["batch_id"] = batch_id
    return crud.page(conn, VectorStoreFile, params, **scope)


def forget_file(conn: Connection, file_id: str) -> list[str]:
    """A deleted File leaves every store; returns those stores, whose chunks must go too."""
    t = crud.table_of(VectorStoreFile)
    stores = list(conn.execute(select(t.c.vector_store_id).where(t.c.id == file_id)).scalars())
    conn.execute(t.delete().where(t.c.id == file_id))
    return stores


def _create(conn: Connection, store_id: str, fields: VectorStoreFileFields
            ) -> VectorStoreFileRow:
    crud.get(conn, VectorStore, STORE_KIND, store_id)
    return add(conn, store_id, fields["file_id"],
               strategy=chunking(fields.get("chunking_strategy"), "chunking_strategy"),
               attributes=fields.get("attributes"))


def _set_attributes(conn: Connection, store_id: str, file_id: str,
                    attributes: Attributes | None) -> VectorStoreFileRow:
    get(conn, store_id, file_id)
    t = crud.table_of(VectorStoreFile)
    conn.execute(update(t).where(t.c.vector_store_id == store_id, t.c.id == file_id)
                 .values(attributes=attributes))
    return get(conn, store_id, file_id)


def _delete(conn: Connection, store_id: str, file_id: str) -> None:
    """Removes the file from the store (not the File itself)."""
    get(conn, store_id, file_id)
    t = crud.table_of(VectorStoreFile)
    conn.execute(t.delete().where(t.c.vector_store_id == store_id, t.c.id == file_id))


class VectorStoreFiles:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, store_id: str, fields: VectorStoreFileFields
                     ) -> VectorStoreFileRow:
        return await self.ctx.write_queueing_files(_create, store_id, fields)

    async def retrieve(self, store_id: str, file_id: str) -> VectorStoreFileRow:
        return await self.ctx.store.read(get, store_id, file_id)

    async def update(self, store_id: str, file_id: str,
                     attributes: Attributes | None) -> VectorStoreFileRow:
        return await self.ctx.store.write(_set_attributes, store_id, file_id, attributes)

    async def page(self, store_id: str, params: PageParams, status: str | None
                   ) -> tuple[list[VectorStoreFileRow], bool]:
        return await self.ctx.store.read(page, store_id, params, status)

    async def delete(self, store_id: str, file_id: str) -> None:
        await self.ctx.store.write(_delete, store_id, file_id)
        await off_loop(self.ctx.background.search.drop_file, [store_id], file_id)

    async def content(self, store_id: str, file_id: str) -> str | None:
        """The text the store holds for the file: the parsed document, as search sees it."""

        def locate(conn: Connection) -> tuple[FileRow, Path]:
            get(conn, store_id, file_id)
            return files.blob_path(conn, self.ctx.cfg.files_dir, file_id)

        row, path = await self.ctx.store.read(locate)
        return await off_loop(self.ctx.background.search.document_text, path, row["filename"])
