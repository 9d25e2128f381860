"""/v1/assistants"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.wire.common import dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import AssistantCreate, AssistantUpdate
from airlock.service import PageParams, Services
from airlock.service import commands as cmd

router = APIRouter(prefix="/v1/assistants")


@router.post("")
async def create_assistant(body: AssistantCreate, svc: Services = Depends(services)) -> WireJSON:
    command = cast(cmd.AssistantCreate, dump_fields(body))
    return WireJSON(render("assistant", await svc.assistants.create(command)))


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("assistant", await svc.assistants.retrieve(assistant_id)))


@router.post("/{assistant_id}")
async def update_assistant(assistant_id: str, body: AssistantUpdate,
                           svc: Services = Depends(services)) -> WireJSON:
    row = await svc.assistants.update(assistant_id, cast(cmd.AssistantUpdate, dump_fields(body)))
    return WireJSON(render("assistant", row))


@router.get("")
async def list_assistants(page: PageParams = Depends(page_params()),
                          svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.assistants.page(page)
    return list_page(render_all("assistant", rows), more)


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, svc: Services = Depends(services)) -> WireJSON:
    await svc.assistants.delete(assistant_id)
    return deleted(assistant_id, "assistant.deleted")
