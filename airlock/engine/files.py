"""Files: bytes streamed to disk under the data dir, metadata in the store, expiry enforced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, delete, select

from airlock.engine.ids import new_id
from airlock.engine.store import crud
from airlock.engine.store.tables import File

KIND = "file"
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
BATCH_DEFAULT_TTL = 30 * 24 * 3600
_CHUNK = 1024 * 1024


def write_blob(files_dir: Path, source: BinaryIO) -> tuple[str, int]:
    """Copy `source` into the files dir chunk by chunk; returns (relative path, size).

    The bytes are fsynced before the caller commits the row, so an acknowledged upload
    survives a crash.
    """
    name = new_id("file")
    tmp = files_dir / f".{name}.part"
    size = 0
    with open(tmp, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, files_dir / name)
    return name, size


def create(
    conn: Connection,
    *,
    path: str,
    size: int,
    filename: str,
    purpose: str,
    expires_after_seconds: int | None,
) -> dict[str, Any]:
    created = crud.now()
    if expires_after_seconds is None and purpose == "batch":
        expires_after_seconds = BATCH_DEFAULT_TTL
    return crud.add(
        conn,
        File,
        {
            "id": new_id("file"),
            "created_at": created,
            "bytes": size,
            "filename": filename,
            "purpose": purpose,
            # Bytes are on disk before the row exists, so a file is processed on arrival.
            "status": "processed",
            "status_details": None,
            "expires_at": created + expires_after_seconds if expires_after_seconds else None,
            "path": path,
        },
    )


def blob_path(conn: Connection, files_dir: Path, file_id: str) -> tuple[dict[str, Any], Path]:
    row = crud.find(conn, File, file_id)
    if row is None:
        crud.get(conn, File, KIND, file_id)  # raises the 404
    return crud.to_object(row), files_dir / row.path


def delete_file(conn: Connection, files_dir: Path, file_id: str) -> Path:
    """Removes the row; returns the bytes' path, for the caller to unlink once committed."""
    _, path = blob_path(conn, files_dir, file_id)
    crud.remove(conn, File, file_id)
    return path


def purge_expired(conn: Connection, files_dir: Path) -> list[Path]:
    """Expired files vanish as on the real API; returns their paths to unlink after commit."""
    t = crud.table_of(File)
    expired = t.c.expires_at.is_not(None) & (t.c.expires_at <= crud.now())
    paths = conn.execute(select(t.c.path).where(expired)).scalars().all()
    if paths:
        conn.execute(delete(t).where(expired))
    return [files_dir / p for p in paths]


def discard(files_dir: Path, path: str) -> None:
    (files_dir / path).unlink(missing_ok=True)
