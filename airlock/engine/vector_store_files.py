"""Files in vector stores and the batches that add them; ingestion itself is engine.ingestion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from airlock.engine import references
from airlock.engine.ids import new_id
from airlock.engine.store import crud
from airlock.engine.store.tables import VectorStore, VectorStoreFile, VectorStoreFileBatch
from airlock.errors import InvalidRequest, NotFound

KIND = "vector store file"
BATCH_KIND = "vector store file batch"
AUTO = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}


def chunking(strategy: dict[str, Any] | None, param: str) -> dict[str, Any]:
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


def add(conn: Connection, store_id: str, file_id: str, *, chunking: dict[str, Any] = AUTO,
        attributes: dict[str, Any] | None = None, batch_id: str | None = None,
        param: str = "file_id") -> dict[str, Any]:
    """Queues the file for ingestion into the store; adding it again re-ingests it."""
    references.require_file(conn, file_id, param)
    t = crud.table_of(VectorStoreFile)
    conn.execute(t.delete().where(t.c.vector_store_id == store_id, t.c.id == file_id))
    return crud.add(conn, VectorStoreFile, {
        "id": file_id, "vector_store_id": store_id, "created_at": crud.now(), "usage_bytes": 0,
        "status": "in_progress", "last_error": None, "chunking_strategy": chunking,
        "attributes": attributes, "batch_id": batch_id, "claim": None,
    })


def create(conn: Connection, store_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    crud.get(conn, VectorStore, "vector store", store_id)
    return add(conn, store_id, fields["file_id"],
               chunking=chunking(fields.get("chunking_strategy"), "chunking_strategy"),
               attributes=fields.get("attributes"))


def get(conn: Connection, store_id: str, file_id: str) -> dict[str, Any]:
    crud.get(conn, VectorStore, "vector store", store_id)
    return crud.get(conn, VectorStoreFile, KIND, file_id, vector_store_id=store_id)


def set_attributes(conn: Connection, store_id: str, file_id: str,
                   attributes: dict[str, Any] | None) -> dict[str, Any]:
    get(conn, store_id, file_id)
    t = crud.table_of(VectorStoreFile)
    conn.execute(update(t).where(t.c.vector_store_id == store_id, t.c.id == file_id)
                 .values(attributes=attributes))
    return get(conn, store_id, file_id)


def page(conn: Connection, store_id: str, params: crud.PageParams, status: str | None,
         batch_id: str | None = None) -> tuple[list[dict[str, Any]], bool]:
    crud.get(conn, VectorStore, "vector store", store_id)
    scope: dict[str, Any] = {"vector_store_id": store_id}
    if status:
        scope["status"] = status
    if batch_id:
        scope["batch_id"] = batch_id
    return crud.page(conn, VectorStoreFile, params, **scope)


def delete(conn: Connection, store_id: str, file_id: str) -> None:
    """Removes the file from the store (not the File itself); the caller drops its chunks."""
    get(conn, store_id, file_id)
    t = crud.table_of(VectorStoreFile)
    conn.execute(t.delete().where(t.c.vector_store_id == store_id, t.c.id == file_id))


def forget_file(conn: Connection, file_id: str) -> list[str]:
    """A deleted File leaves every store; returns those stores, whose chunks must go too."""
    t = crud.table_of(VectorStoreFile)
    stores = list(conn.execute(select(t.c.vector_store_id).where(t.c.id == file_id)).scalars())
    conn.execute(t.delete().where(t.c.id == file_id))
    return stores


def completed(conn: Connection, store_ids: list[str]) -> list[Any]:
    """(vector_store_id, id, attributes) of every searchable file in these stores."""
    t = crud.table_of(VectorStoreFile)
    return conn.execute(select(t.c.vector_store_id, t.c.id, t.c.attributes).where(
        t.c.vector_store_id.in_(store_ids), t.c.status == "completed")).all()


def pending(conn: Connection, store_ids: list[str]) -> int:
    t = crud.table_of(VectorStoreFile)
    return conn.execute(select(func.count()).where(
        t.c.vector_store_id.in_(store_ids), t.c.status == "in_progress")).scalar_one()


# --- batches ----------------------------------------------------------------------------------


def create_batch(conn: Connection, store_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    crud.get(conn, VectorStore, "vector store", store_id)
    if fields.get("file_ids") and fields.get("files"):
        raise InvalidRequest("Give either 'file_ids' or 'files', not both.", param="files")
    default_chunking = chunking(fields.get("chunking_strategy"), "chunking_strategy")
    items = fields.get("files") or [{"file_id": f} for f in fields.get("file_ids") or []]
    if not items:
        raise InvalidRequest("A file batch needs at least one file in 'file_ids' or 'files'.",
                             param="file_ids")
    batch = crud.add(conn, VectorStoreFileBatch, {
        "id": new_id("file_batch"), "vector_store_id": store_id, "created_at": crud.now(),
        "cancelled": False})
    param = "files" if fields.get("files") else "file_ids"
    for i, item in enumerate(items):
        strategy = (chunking(item["chunking_strategy"], f"files[{i}].chunking_strategy")
                    if item.get("chunking_strategy") else default_chunking)
        add(conn, store_id, item["file_id"], chunking=strategy, batch_id=batch["id"],
            attributes=item.get("attributes", fields.get("attributes")),
            param=f"{param}[{i}]" + (".file_id" if param == "files" else ""))
    return get_batch(conn, store_id, batch["id"])


def get_batch(conn: Connection, store_id: str, batch_id: str) -> dict[str, Any]:
    crud.get(conn, VectorStore, "vector store", store_id)
    row = crud.find(conn, VectorStoreFileBatch, batch_id, vector_store_id=store_id)
    if row is None:
        raise NotFound(BATCH_KIND, batch_id)
    batch = crud.to_object(row)
    t = crud.table_of(VectorStoreFile)
    counts = dict.fromkeys(("in_progress", "completed", "failed", "cancelled"), 0)
    for status, n in conn.execute(select(t.c.status, func.count()).where(
            t.c.batch_id == batch_id).group_by(t.c.status)).all():
        counts[status] = n
    total = sum(counts.values())
    if row.cancelled:
        status = "cancelled"
    elif counts["in_progress"]:
        status = "in_progress"
    else:
        status = "failed" if total and counts["failed"] == total else "completed"
    return {**batch, "status": status, "file_counts": {**counts, "total": total}}


def cancel_batch(conn: Connection, store_id: str, batch_id: str) -> dict[str, Any]:
    """Files still waiting are cancelled now; one mid-ingestion is dropped when it finishes."""
    batch = get_batch(conn, store_id, batch_id)
    if batch["status"] != "in_progress":
        raise InvalidRequest(f"Cannot cancel a batch with status '{batch['status']}'.",
                             param="batch_id")
    t = crud.table_of(VectorStoreFile)
    conn.execute(update(t).where(t.c.batch_id == batch_id, t.c.status == "in_progress")
                 .values(status="cancelled"))
    crud.change(conn, VectorStoreFileBatch, batch_id, {"cancelled": True})
    return get_batch(conn, store_id, batch_id)


def page_batch_files(conn: Connection, store_id: str, batch_id: str, params: crud.PageParams,
                     status: str | None) -> tuple[list[dict[str, Any]], bool]:
    get_batch(conn, store_id, batch_id)
    return page(conn, store_id, params, status, batch_id=batch_id)
