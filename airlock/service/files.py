"""Files: bytes streamed to disk and fsynced before the row commits; a deleted File leaves
every vector store and search index. Expired files are gone for readers at once and deleted
by the engine's sweeper."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection

from airlock.errors import InvalidRequest
from airlock.service import vector_store_files
from airlock.service.context import Context, off_loop
from airlock.service.paging import PageParams
from airlock.store import blobs, crud, files
from airlock.store.records import FileRow
from airlock.store.tables import File

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
# Batch input files expire after 30 days unless told otherwise, as on the real API.
BATCH_DEFAULT_TTL = 30 * 24 * 3600
MIN_TTL, MAX_TTL = 3600, 2_592_000


def _ttl(anchor: Any, seconds: Any) -> int | None:
    """expires_after: seconds after creation, between an hour and 30 days."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequest("Invalid 'expires_after.anchor': expected 'created_at'.",
                             param="expires_after.anchor")
    if not (isinstance(seconds, str) and re.fullmatch(r"\d+", seconds)
            and MIN_TTL <= int(seconds) <= MAX_TTL):
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': expected an integer between {MIN_TTL} and "
            f"{MAX_TTL}.", param="expires_after.seconds")
    return int(seconds)


def _page(conn: Connection, params: PageParams, purpose: str | None
          ) -> tuple[list[FileRow], bool]:
    scope = {"purpose": purpose} if purpose else {}
    return crud.page(conn, File, params, files.live(), **scope)


def _delete(conn: Connection, files_dir: Path, file_id: str) -> tuple[Path, list[str]]:
    return files.remove(conn, files_dir, file_id), vector_store_files.forget_file(conn, file_id)


class Files:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def upload(self, source: BinaryIO, filename: str | None, purpose: Any,
                     expires_anchor: Any = None, expires_seconds: Any = None) -> FileRow:
        """Stores an upload. `purpose` and the expires_after parts are the form's raw values."""
        if filename is not None and "\x00" in filename:
            raise InvalidRequest("Invalid 'file': its filename contains a NUL character.",
                                 param="file")
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequest(
                f"Invalid 'purpose': expected one of {', '.join(UPLOAD_PURPOSES)}.",
                param="purpose")
        ttl = _ttl(expires_anchor, expires_seconds)
        files_dir, limit = self.ctx.cfg.files_dir, self.ctx.cfg.max_upload_bytes
        path, size = await off_loop(blobs.write_blob, files_dir, source)
        if size > limit:
            blobs.discard(files_dir, path)
            raise InvalidRequest(f"File is larger than the {limit}-byte limit.", param="file")
        if ttl is None and purpose == "batch":
            ttl = BATCH_DEFAULT_TTL
        try:
            return await self.ctx.store.write(
                files.insert, path=path, size=size, filename=filename or "upload",
                purpose=purpose, expires_after_seconds=ttl)
        except BaseException:
            blobs.discard(files_dir, path)
            raise

    async def retrieve(self, file_id: str) -> FileRow:
        return await self.ctx.store.read(files.get, file_id)

    async def page(self, params: PageParams, purpose: str | None
                   ) -> tuple[list[FileRow], bool]:
        return await self.ctx.store.read(_page, params, purpose)

    async def content(self, file_id: str) -> tuple[FileRow, Path]:
        """The file and where its bytes are."""
        return await self.ctx.store.read(files.blob_path, self.ctx.cfg.files_dir, file_id)

    async def delete(self, file_id: str) -> None:
        path, stores = await self.ctx.store.write(_delete, self.ctx.cfg.files_dir, file_id)
        path.unlink(missing_ok=True)
        await off_loop(self.ctx.background.search.drop_file, stores, file_id)
