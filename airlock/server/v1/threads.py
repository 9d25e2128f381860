"""Assistants v1: /v1/threads (v1 threads have no tool_resources)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted
from airlock.server.v1 import translate
from airlock.server.versions import V1_PREFIX, routed_from_v1_header
from airlock.server.wire import v1_objects as v1
from airlock.server.wire.common import dump_fields
from airlock.server.wire.v1_requests import ThreadCreate, ThreadUpdate
from airlock.service import Services
from airlock.service import commands as cmd

router = APIRouter(prefix=V1_PREFIX + "/v1/threads", include_in_schema=False,
                   dependencies=[Depends(routed_from_v1_header)])


@router.post("")
async def create_thread(body: ThreadCreate | None = None,
                        svc: Services = Depends(services)) -> WireJSON:
    fields = translate.thread(dump_fields(body)) if body else {}
    return WireJSON(v1.thread(await svc.threads.create(cast(cmd.ThreadFields, fields))))


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(v1.thread(await svc.threads.retrieve(thread_id)))


@router.post("/{thread_id}")
async def update_thread(thread_id: str, body: ThreadUpdate,
                        svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(v1.thread(await svc.threads.update(thread_id, cast(cmd.ThreadFields, dump_fields(body)))))


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, svc: Services = Depends(services)) -> WireJSON:
    await svc.threads.delete(thread_id)
    return deleted(thread_id, "thread.deleted")
