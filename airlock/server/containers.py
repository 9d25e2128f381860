"""/v1/containers and their files: code_interpreter sessions of the Responses API."""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse

from airlock.errors import InvalidRequest
from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.wire.containers import (
    ContainerCreate,
    ContainerFileCreate,
    container_object,
    file_object,
)
from airlock.service import PageParams, Services
from airlock.service.containers import DEFAULT_MINUTES, NewContainer

router = APIRouter(prefix="/v1/containers")

_FILE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}},
    "application/json": {"schema": {"type": "object", "required": ["file_id"],
                                    "additionalProperties": False,
                                    "properties": {"file_id": {"type": "string"}}}}}}}


@router.post("")
async def create_container(body: ContainerCreate, svc: Services = Depends(services)) -> WireJSON:
    policy = body.network_policy
    if policy is not None and policy.type != "disabled":
        raise InvalidRequest("A container's network is always disabled here (airlock runs code "
                             "offline): an allowlist cannot be served.",
                             param="network_policy.type")
    if body.skills:
        raise InvalidRequest("Skills are not available: airlock serves models offline.",
                             param="skills")
    row = await svc.containers.create(NewContainer(
        name=body.name, file_ids=tuple(body.file_ids),
        expires_minutes=body.expires_after.minutes if body.expires_after else DEFAULT_MINUTES,
        memory_limit=body.memory_limit or "1g"))
    return WireJSON(container_object(row))


@router.get("")
async def list_containers(name: str | None = Query(None),
                          params: PageParams = Depends(page_params()),
                          svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.containers.page(params, name)
    return list_page([container_object(r) for r in rows], more)


@router.get("/{container_id}")
async def retrieve_container(container_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(container_object(await svc.containers.retrieve(container_id)))


@router.delete("/{container_id}")
async def delete_container(container_id: str, svc: Services = Depends(services)) -> WireJSON:
    await svc.containers.delete(container_id)
    return deleted(container_id, "container.deleted")


@router.post("/{container_id}/files", openapi_extra=_FILE_BODY)
async def create_container_file(container_id: str, request: Request,
                                svc: Services = Depends(services)) -> WireJSON:
    """A file uploaded (multipart `file`) or copied from a File (JSON `file_id`)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidRequest("Missing required parameter: 'file'.", param="file",
                                     code="missing_required_parameter")
            upload.file.seek(0)
            row = await svc.containers.add_upload(container_id, upload.file, upload.filename)
        return WireJSON(file_object(row))
    try:
        body = ContainerFileCreate.model_validate_json(await request.body())
    except ValueError:
        raise InvalidRequest("Send a multipart 'file', or JSON with a 'file_id'.",
                             param="file_id") from None
    return WireJSON(file_object(await svc.containers.add_file(container_id, body.file_id)))


@router.get("/{container_id}/files")
async def list_container_files(container_id: str,
                               params: PageParams = Depends(page_params()),
                               svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.containers.files_page(container_id, params)
    return list_page([file_object(r) for r in rows], more)


@router.get("/{container_id}/files/{file_id}")
async def retrieve_container_file(container_id: str, file_id: str,
                                  svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(file_object(await svc.containers.file(container_id, file_id)))


@router.get("/{container_id}/files/{file_id}/content")
async def container_file_content(container_id: str, file_id: str,
                                 svc: Services = Depends(services)) -> FileResponse:
    row, path = await svc.containers.file_content(container_id, file_id)
    media_type = mimetypes.guess_type(row["container_path"])[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


@router.delete("/{container_id}/files/{file_id}")
async def delete_container_file(container_id: str, file_id: str,
                                svc: Services = Depends(services)) -> WireJSON:
    await svc.containers.delete_file(container_id, file_id)
    return deleted(file_id, "container.file.deleted")
