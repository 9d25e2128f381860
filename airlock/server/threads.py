"""/v1/threads"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted
from airlock.server.wire.common import dump_fields
from airlock.server.wire.objects import render
from airlock.server.wire.requests import ThreadCreate, ThreadUpdate
from airlock.service import Services
from airlock.service import commands as cmd

router = APIRouter(prefix="/v1/threads")


@router.post("")
async def create_thread(body: ThreadCreate | None = None,
                        svc: Services = Depends(services)) -> WireJSON:
    command = cast(cmd.ThreadFields, dump_fields(body) if body else {})
    return WireJSON(render("thread", await svc.threads.create(command)))


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("thread", await svc.threads.retrieve(thread_id)))


@router.post("/{thread_id}")
async def update_thread(thread_id: str, body: ThreadUpdate,
                        svc: Services = Depends(services)) -> WireJSON:
    command = cast(cmd.ThreadFields, dump_fields(body))
    return WireJSON(render("thread", await svc.threads.update(thread_id, command)))


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, svc: Services = Depends(services)) -> WireJSON:
    await svc.threads.delete(thread_id)
    return deleted(thread_id, "thread.deleted")
