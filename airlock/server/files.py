"""/v1/files: multipart upload streamed to disk, listing, metadata, content download, delete."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse

from airlock.errors import InvalidRequest
from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.wire.objects import render, render_all
from airlock.service import PageParams, Services

router = APIRouter(prefix="/v1/files")

_FORM_FIELDS = {"file", "purpose", "expires_after[anchor]", "expires_after[seconds]"}


_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "purpose"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "purpose": {"type": "string", "enum": ["assistants", "batch", "fine-tune", "vision",
                                               "user_data"]},
        "expires_after[anchor]": {"type": "string", "enum": ["created_at"]},
        "expires_after[seconds]": {"type": "integer", "minimum": 3600, "maximum": 2592000},
    }}}}}}


@router.post("", openapi_extra=_UPLOAD_BODY)
async def upload_file(request: Request, svc: Services = Depends(services)) -> WireJSON:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("Uploads must be multipart/form-data with 'file' and 'purpose'.")
    # Starlette spools each part to a temporary file past 1 MiB, so big uploads never sit in memory.
    async with request.form(max_files=1) as form:
        for key in form.keys():
            if key not in _FORM_FIELDS:
                raise InvalidRequest(f"Unrecognized request argument supplied: {key}", param=key,
                                     code="unknown_parameter")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("Missing required parameter: 'file'.", param="file",
                                 code="missing_required_parameter")
        upload.file.seek(0)
        row = await svc.files.upload(upload.file, upload.filename, form.get("purpose"),
                                     form.get("expires_after[anchor]"),
                                     form.get("expires_after[seconds]"))
    return WireJSON(render("file", row))


@router.get("")
async def list_files(purpose: str | None = Query(None),
                     page: PageParams = Depends(page_params(default_limit=10_000,
                                                            max_limit=10_000)),
                     svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.files.page(page, purpose)
    return list_page(render_all("file", rows), more)


@router.get("/{file_id}")
async def retrieve_file(file_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("file", await svc.files.retrieve(file_id)))


@router.get("/{file_id}/content")
async def file_content(file_id: str, svc: Services = Depends(services)) -> FileResponse:
    row, path = await svc.files.content(file_id)
    media_type = mimetypes.guess_type(row["filename"])[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


@router.delete("/{file_id}")
async def delete_file(file_id: str, svc: Services = Depends(services)) -> WireJSON:
    await svc.files.delete(file_id)
    return deleted(file_id, "file")
