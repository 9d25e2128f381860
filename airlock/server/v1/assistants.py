"""Assistants v1: /v1/assistants and /v1/assistants/{id}/files."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.versions import V1_PREFIX, routed_from_v1_header
from airlock.server.wire import v1_objects as v1
from airlock.server.wire.common import dump_fields
from airlock.server.wire.v1_requests import (
    AssistantCreate,
    AssistantFileCreate,
    AssistantUpdate,
    tool_v2,
)
from airlock.service import PageParams, Services
from airlock.service import commands as cmd
from airlock.service.records import AssistantRow

router = APIRouter(prefix=V1_PREFIX + "/v1/assistants", include_in_schema=False,
                   dependencies=[Depends(routed_from_v1_header)])


async def _rendered(svc: Services, rows: list[AssistantRow]) -> list[dict[str, Any]]:
    file_ids = await svc.assistant_files.file_ids(rows)
    return [v1.assistant(row, file_ids[row["id"]]) for row in rows]


def _v2_fields(fields: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    file_ids = fields.pop("file_ids", None)
    if fields.get("tools") is not None:
        fields["tools"] = [tool_v2(t) for t in fields["tools"]]
    return fields, file_ids


@router.post("")
async def create_assistant(body: AssistantCreate, svc: Services = Depends(services)) -> WireJSON:
    fields, file_ids = _v2_fields(dump_fields(body))
    row = await svc.assistants.create_v1(cast(cmd.AssistantCreate, fields), file_ids or [])
    return WireJSON((await _rendered(svc, [row]))[0])


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON((await _rendered(svc, [await svc.assistants.retrieve(assistant_id)]))[0])


@router.post("/{assistant_id}")
async def update_assistant(assistant_id: str, body: AssistantUpdate,
                           svc: Services = Depends(services)) -> WireJSON:
    fields, file_ids = _v2_fields(dump_fields(body))
    row = await svc.assistants.update_v1(assistant_id, cast(cmd.AssistantUpdate, fields), file_ids)
    return WireJSON((await _rendered(svc, [row]))[0])


@router.get("")
async def list_assistants(page: PageParams = Depends(page_params()),
                          svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.assistants.page(page)
    return list_page(await _rendered(svc, rows), more)


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, svc: Services = Depends(services)) -> WireJSON:
    await svc.assistants.delete(assistant_id)
    return deleted(assistant_id, "assistant.deleted")


@router.post("/{assistant_id}/files")
async def create_assistant_file(assistant_id: str, body: AssistantFileCreate,
                                svc: Services = Depends(services)) -> WireJSON:
    file = await svc.assistant_files.attach(assistant_id, body.file_id)
    return WireJSON(v1.assistant_file(assistant_id, file))


@router.get("/{assistant_id}/files/{file_id}")
async def retrieve_assistant_file(assistant_id: str, file_id: str,
                                  svc: Services = Depends(services)) -> WireJSON:
    file = await svc.assistant_files.retrieve(assistant_id, file_id)
    return WireJSON(v1.assistant_file(assistant_id, file))


@router.get("/{assistant_id}/files")
async def list_assistant_files(assistant_id: str, page: PageParams = Depends(page_params()),
                               svc: Services = Depends(services)) -> WireJSON:
    files, more = await svc.assistant_files.page(assistant_id, page)
    return list_page([v1.assistant_file(assistant_id, f) for f in files], more)


@router.delete("/{assistant_id}/files/{file_id}")
async def delete_assistant_file(assistant_id: str, file_id: str,
                                svc: Services = Depends(services)) -> WireJSON:
    await svc.assistant_files.detach(assistant_id, file_id)
    return deleted(file_id, "assistant.file.deleted")
