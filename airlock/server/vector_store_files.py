"""/v1/vector_stores/{id}/files: add a File to a store, read, update attributes, list, remove."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from fastapi import APIRouter, Depends, Query

from airlock.server.deps import services, settings
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.wire.common import dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.vector_stores import VectorStoreFileCreate, VectorStoreFileUpdate
from airlock.service import PageParams, Services
from airlock.service import commands as cmd
from airlock.settings import Settings

router = APIRouter(prefix="/v1/vector_stores/{vector_store_id}/files")
StatusFilter = Literal["in_progress", "completed", "failed", "cancelled"]


def polled(row: Mapping[str, Any], cfg: Settings) -> WireJSON:
    """The SDK's poll helpers wait this long between GETs (else a whole second)."""
    return WireJSON(row, headers={"openai-poll-after-ms": str(cfg.poll_after_ms)})


@router.post("")
async def create_vector_store_file(vector_store_id: str, body: VectorStoreFileCreate,
                                   svc: Services = Depends(services)) -> WireJSON:
    command = cast(cmd.VectorStoreFileFields, dump_fields(body))
    row = await svc.vector_store_files.create(vector_store_id, command)
    return WireJSON(render("vector_store_file", row))


@router.get("/{file_id}")
async def retrieve_vector_store_file(vector_store_id: str, file_id: str,
                                     svc: Services = Depends(services),
                                     cfg: Settings = Depends(settings)) -> WireJSON:
    row = await svc.vector_store_files.retrieve(vector_store_id, file_id)
    return polled(render("vector_store_file", row), cfg)


@router.post("/{file_id}")
async def update_vector_store_file(vector_store_id: str, file_id: str,
                                   body: VectorStoreFileUpdate,
                                   svc: Services = Depends(services)) -> WireJSON:
    row = await svc.vector_store_files.update(vector_store_id, file_id, body.attributes)
    return WireJSON(render("vector_store_file", row))


@router.get("")
async def list_vector_store_files(vector_store_id: str,
                                  filter: StatusFilter | None = Query(None),
                                  page: PageParams = Depends(page_params()),
                                  svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.vector_store_files.page(vector_store_id, page, filter)
    return list_page(render_all("vector_store_file", rows), more)


@router.delete("/{file_id}")
async def delete_vector_store_file(vector_store_id: str, file_id: str,
                                   svc: Services = Depends(services)) -> WireJSON:
    await svc.vector_store_files.delete(vector_store_id, file_id)
    return deleted(file_id, "vector_store.file.deleted")


@router.get("/{file_id}/content")
async def vector_store_file_content(vector_store_id: str, file_id: str,
                                    svc: Services = Depends(services)) -> WireJSON:
    """The text the store holds for the file: the parsed document, as search sees it."""
    text = await svc.vector_store_files.content(vector_store_id, file_id)
    return WireJSON({"object": "vector_store.file_content.page",
                     "data": [] if text is None else [{"type": "text", "text": text}],
                     "has_more": False, "next_page": None})
