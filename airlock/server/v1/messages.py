"""Assistants v1: /v1/threads/{thread_id}/messages and their files."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends, Query

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.v1 import translate
from airlock.server.versions import V1_PREFIX, routed_from_v1_header
from airlock.server.wire import v1_objects as v1
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.requests import MetadataUpdate
from airlock.server.wire.v1_requests import MessageCreate
from airlock.service import PageParams, Services
from airlock.service import commands as cmd

router = APIRouter(prefix=V1_PREFIX + "/v1/threads/{thread_id}/messages", include_in_schema=False,
                   dependencies=[Depends(routed_from_v1_header)])


@router.post("")
async def create_message(thread_id: str, body: MessageCreate,
                         svc: Services = Depends(services)) -> WireJSON:
    row = await svc.messages.create(thread_id, cast(cmd.MessageFields, translate.message(dump(body))))
    return WireJSON(v1.message(row))


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str,
                           svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(v1.message(await svc.messages.retrieve(thread_id, message_id)))


@router.post("/{message_id}")
async def update_message(thread_id: str, message_id: str, body: MetadataUpdate,
                         svc: Services = Depends(services)) -> WireJSON:
    row = await svc.messages.update(thread_id, message_id, cast(cmd.MetadataFields, dump_fields(body)))
    return WireJSON(v1.message(row))


@router.get("")
async def list_messages(thread_id: str, run_id: str | None = Query(None),
                        page: PageParams = Depends(page_params()),
                        svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.messages.page(thread_id, page, run_id)
    return list_page([v1.message(r) for r in rows], more)


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str,
                         svc: Services = Depends(services)) -> WireJSON:
    await svc.messages.delete(thread_id, message_id)
    return deleted(message_id, "thread.message.deleted")


@router.get("/{message_id}/files")
async def list_message_files(thread_id: str, message_id: str,
                             page: PageParams = Depends(page_params()),
                             svc: Services = Depends(services)) -> WireJSON:
    message, file_ids, more = await svc.messages.page_files(thread_id, message_id, page)
    return list_page([v1.message_file(message, f) for f in file_ids], more)


@router.get("/{message_id}/files/{file_id}")
async def retrieve_message_file(thread_id: str, message_id: str, file_id: str,
                                svc: Services = Depends(services)) -> WireJSON:
    message = await svc.messages.file(thread_id, message_id, file_id)
    return WireJSON(v1.message_file(message, file_id))
