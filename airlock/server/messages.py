"""/v1/threads/{thread_id}/messages"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends, Query

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import MessageCreate, MetadataUpdate
from airlock.service import PageParams, Services
from airlock.service import commands as cmd

router = APIRouter(prefix="/v1/threads/{thread_id}/messages")


@router.post("")
async def create_message(thread_id: str, body: MessageCreate,
                         svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("message", await svc.messages.create(thread_id, dump(body))))


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str,
                           svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("message", await svc.messages.retrieve(thread_id, message_id)))


@router.post("/{message_id}")
async def update_message(thread_id: str, message_id: str, body: MetadataUpdate,
                         svc: Services = Depends(services)) -> WireJSON:
    row = await svc.messages.update(thread_id, message_id, cast(cmd.MetadataFields, dump_fields(body)))
    return WireJSON(render("message", row))


@router.get("")
async def list_messages(thread_id: str, run_id: str | None = Query(None),
                        page: PageParams = Depends(page_params()),
                        svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.messages.page(thread_id, page, run_id)
    return list_page(render_all("message", rows), more)


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str,
                         svc: Services = Depends(services)) -> WireJSON:
    await svc.messages.delete(thread_id, message_id)
    return deleted(message_id, "thread.message.deleted")
