"""File rows: written by uploads and by code_interpreter's outputs, read by runs and the API.

A file past its `expires_at` is gone for every reader at once (`live`); the sweeper deletes its
row and bytes later, off the request path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, or_, select

from airlock.errors import NotFound
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import FileRow
from airlock.store.tables import File

KIND = "file"


def live(now: int | None = None) -> ColumnElement[bool]:
    """Rows not yet expired."""
    t = crud.table_of(File)
    return or_(t.c.expires_at.is_(None), t.c.expires_at > (crud.now() if now is None else now))


def insert(conn: Connection, *, path: str, size: int, filename: str, purpose: str,
           expires_after_seconds: int | None) -> FileRow:
    created = crud.now()
    return crud.add(conn, File, FileRow(
        id=new_id("file"),
        created_at=created,
        bytes=size,
        filename=filename,
        purpose=purpose,
        # Bytes are on disk before the row exists, so a file is processed on arrival.
        status="processed",
        status_details=None,
        expires_at=created + expires_after_seconds if expires_after_seconds else None,
    ), path=path)


def find(conn: Connection, file_id: str) -> Row[Any] | None:
    """The live row, or None."""
    t = crud.table_of(File)
    return conn.execute(select(t).where(t.c.id == file_id, live())).first()


def get(conn: Connection, file_id: str) -> FileRow:
    """The live file, or a 404."""
    row = find(conn, file_id)
    if row is None:
        raise NotFound(KIND, file_id)
    return crud.to_object(File, row)


def blob_path(conn: Connection, files_dir: Path, file_id: str) -> tuple[FileRow, Path]:
    row = find(conn, file_id)
    if row is None:
        raise NotFound(KIND, file_id)
    return crud.to_object(File, row), files_dir / row.path


def remove(conn: Connection, files_dir: Path, file_id: str) -> Path:
    """Deletes the row; returns the bytes' path, for the caller to unlink once committed."""
    _, path = blob_path(conn, files_dir, file_id)
    crud.remove(conn, File, file_id)
    return path


def all_paths(conn: Connection) -> set[str]:
    """The blob names every file row points at, expired ones included."""
    t = crud.table_of(File)
    return set(conn.execute(select(t.c.path)).scalars())


def purge_expired(conn: Connection, files_dir: Path) -> list[Path]:
    """Deletes expired rows; returns their bytes' paths to unlink after commit."""
    t = crud.table_of(File)
    expired = t.c.expires_at.is_not(None) & (t.c.expires_at <= crud.now())
    paths = conn.execute(select(t.c.path).where(expired)).scalars().all()
    if paths:
        conn.execute(delete(t).where(expired))
    return [files_dir / p for p in paths]
