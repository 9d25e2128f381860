"""/v1/files: multipart upload streamed to disk, listing, metadata, content download, delete."""

from __future__ import annotations

import mimetypes
import re

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse

from airlock.engine import files
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import File
from airlock.errors import InvalidRequest
from airlock.engine.service import Engine
from airlock.server.deps import engine, settings, store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, deleted, list_page
from airlock.server.wire.objects import render, render_all
from airlock.settings import Settings

router = APIRouter(prefix="/v1/files")

_FORM_FIELDS = {"file", "purpose", "expires_after[anchor]", "expires_after[seconds]"}
_MIN_TTL, _MAX_TTL = 3600, 2_592_000


def _expires_after(form) -> int | None:
    anchor = form.get("expires_after[anchor]")
    seconds = form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequest("Invalid 'expires_after.anchor': expected 'created_at'.",
                             param="expires_after.anchor")
    if not (isinstance(seconds, str) and re.fullmatch(r"\d+", seconds)
            and _MIN_TTL <= int(seconds) <= _MAX_TTL):
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': expected an integer between {_MIN_TTL} and "
            f"{_MAX_TTL}.", param="expires_after.seconds")
    return int(seconds)


@router.post("")
async def upload_file(
    request: Request, db: Store = Depends(store), cfg: Settings = Depends(settings)
) -> WireJSON:
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
        purpose = form.get("purpose")
        if purpose not in files.UPLOAD_PURPOSES:
            raise InvalidRequest(
                f"Invalid 'purpose': expected one of {', '.join(files.UPLOAD_PURPOSES)}.",
                param="purpose")
        ttl = _expires_after(form)
        upload.file.seek(0)
        path, size = await run_in_threadpool(files.write_blob, cfg.files_dir, upload.file)
    if size > cfg.max_upload_bytes:
        files.discard(cfg.files_dir, path)
        raise InvalidRequest(f"File is larger than the {cfg.max_upload_bytes}-byte limit.",
                             param="file")
    try:
        row = await db.write(_record, path, size, upload.filename, purpose, ttl)
    except BaseException:
        files.discard(cfg.files_dir, path)
        raise
    return WireJSON(render("file", row))


def _record(conn, path: str, size: int, filename: str | None, purpose: str, ttl: int | None):
    return files.create(conn, path=path, size=size, filename=filename or "upload",
                        purpose=purpose, expires_after_seconds=ttl)


async def _purge(db: Store, cfg: Settings) -> None:
    for path in await db.write(files.purge_expired, cfg.files_dir):
        path.unlink(missing_ok=True)


@router.get("")
async def list_files(
    purpose: str | None = Query(None),
    page=Depends(page_params(default_limit=10_000, max_limit=10_000)),
    db: Store = Depends(store),
    cfg: Settings = Depends(settings),
) -> WireJSON:
    await _purge(db, cfg)
    rows, more = await db.read(crud.page, File, page, **({"purpose": purpose} if purpose else {}))
    return list_page(render_all("file", rows), more)


@router.get("/{file_id}")
async def retrieve_file(
    file_id: str, db: Store = Depends(store), cfg: Settings = Depends(settings)
) -> WireJSON:
    await _purge(db, cfg)
    return WireJSON(render("file", await db.read(crud.get, File, files.KIND, file_id)))


@router.get("/{file_id}/content")
async def file_content(
    file_id: str, db: Store = Depends(store), cfg: Settings = Depends(settings)
) -> FileResponse:
    await _purge(db, cfg)
    row, path = await db.read(files.blob_path, cfg.files_dir, file_id)
    media_type = mimetypes.guess_type(row["filename"])[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


@router.delete("/{file_id}")
async def delete_file(
    file_id: str, eng: Engine = Depends(engine), cfg: Settings = Depends(settings)
) -> WireJSON:
    await eng.delete_file(cfg.files_dir, file_id)
    return deleted(file_id, "file")
