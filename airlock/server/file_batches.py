"""/v1/vector_stores/{id}/file_batches: add many files at once, poll, cancel, list their files."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends, Query

from airlock.server.deps import services, settings
from airlock.server.json_response import WireJSON, list_page
from airlock.server.pagination import page_params
from airlock.server.vector_store_files import StatusFilter, polled
from airlock.server.wire.common import dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.vector_stores import FileBatchCreate
from airlock.service import PageParams, Services
from airlock.service import commands as cmd
from airlock.settings import Settings

router = APIRouter(prefix="/v1/vector_stores/{vector_store_id}/file_batches")


@router.post("")
async def create_file_batch(vector_store_id: str, body: FileBatchCreate,
                            svc: Services = Depends(services)) -> WireJSON:
    row = await svc.file_batches.create(vector_store_id, cast(cmd.BatchFields, dump_fields(body)))
    return WireJSON(render("file_batch", row))


@router.get("/{batch_id}")
async def retrieve_file_batch(vector_store_id: str, batch_id: str,
                              svc: Services = Depends(services),
                              cfg: Settings = Depends(settings)) -> WireJSON:
    row = await svc.file_batches.retrieve(vector_store_id, batch_id)
    return polled(render("file_batch", row), cfg)


@router.post("/{batch_id}/cancel")
async def cancel_file_batch(vector_store_id: str, batch_id: str,
                            svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("file_batch", await svc.file_batches.cancel(vector_store_id, batch_id)))


@router.get("/{batch_id}/files")
async def list_file_batch_files(vector_store_id: str, batch_id: str,
                                filter: StatusFilter | None = Query(None),
                                page: PageParams = Depends(page_params()),
                                svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.file_batches.page_files(vector_store_id, batch_id, page, filter)
    return list_page(render_all("vector_store_file", rows), more)
