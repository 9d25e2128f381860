"""/v1/vector_stores/{id}/file_batches: add many files at once, poll, cancel, list their files."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from airlock.engine import vector_store_files
from airlock.engine.service import Engine
from airlock.engine.store import Store
from airlock.server.deps import engine, settings, store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, list_page
from airlock.server.vector_store_files import StatusFilter, polled
from airlock.server.wire.common import dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.vector_stores import FileBatchCreate
from airlock.settings import Settings

router = APIRouter(prefix="/v1/vector_stores/{vector_store_id}/file_batches")


@router.post("")
async def create_file_batch(
    vector_store_id: str, body: FileBatchCreate, eng: Engine = Depends(engine)
) -> WireJSON:
    row = await eng.ingest(vector_store_files.create_batch, vector_store_id, dump_fields(body))
    return WireJSON(render("file_batch", row))


@router.get("/{batch_id}")
async def retrieve_file_batch(
    vector_store_id: str, batch_id: str, db: Store = Depends(store),
    cfg: Settings = Depends(settings),
) -> WireJSON:
    row = await db.read(vector_store_files.get_batch, vector_store_id, batch_id)
    return polled(render("file_batch", row), cfg)


@router.post("/{batch_id}/cancel")
async def cancel_file_batch(
    vector_store_id: str, batch_id: str, db: Store = Depends(store)
) -> WireJSON:
    row = await db.write(vector_store_files.cancel_batch, vector_store_id, batch_id)
    return WireJSON(render("file_batch", row))


@router.get("/{batch_id}/files")
async def list_file_batch_files(
    vector_store_id: str, batch_id: str, filter: StatusFilter | None = Query(None),
    page=Depends(page_params()), db: Store = Depends(store),
) -> WireJSON:
    rows, more = await db.read(vector_store_files.page_batch_files, vector_store_id, batch_id,
                               page, filter)
    return list_page(render_all("vector_store_file", rows), more)
