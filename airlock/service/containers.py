"""Containers: code_interpreter sessions of the Responses API, each a kernel of the sandbox (the
same jail, budgets and limits as a thread's) keyed by the container's id, with the files it
holds in /mnt/data.

A container's files are stored like uploads (bytes fsynced under the files dir before the row
commits); the kernel finds them in /mnt/data when code next runs there. A container idle past
its `expires_after` reads `expired` at once; the sweeper then deletes its files and stops its
kernel (engine.sweeper). Deleting a container does both at once.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, delete, select

from airlock.engine.core.items import InputFile
from airlock.engine.core.sink import Produced
from airlock.errors import InvalidRequest, Missing
from airlock.service.context import Context, off_loop
from airlock.service.paging import PageParams
from airlock.service.references import require_file
from airlock.store import Store, blobs, containers, crud, files, kernel_homes
from airlock.store.ids import new_id
from airlock.store.records import ContainerFileRow, ContainerRow, FileRow, ItemJson
from airlock.store.tables import Container, ContainerFile

MEMORY_LIMITS = ("1g", "4g", "16g", "64g")
DEFAULT_MINUTES = 20
MNT = "/mnt/data/"


@dataclass(frozen=True)
class NewContainer:
    name: str
    file_ids: tuple[str, ...] = ()
    expires_minutes: int = DEFAULT_MINUTES
    memory_limit: str = "1g"


def not_found(container_id: str) -> Missing:
    return Missing(f"Container with id '{container_id}' not found.", param="container_id")


def get(conn: Connection, container_id: str) -> ContainerRow:
    """The container as a reader sees it (expired as soon as its idle time is up); 404."""
    row = crud.find(conn, Container, container_id)
    if row is None:
        raise not_found(container_id)
    out = crud.to_object(Container, row)
    out["status"] = containers.status_now(out)
    return out


def running(conn: Connection, container_id: str, param: str = "container_id") -> ContainerRow:
    """The container, which must still be running: an expired one keeps no files or state."""
    row = get(conn, container_id)
    if row["status"] != containers.RUNNING:
        raise InvalidRequest(f"Container {container_id} has expired: create a new one.",
                             param=param)
    return row


def _file_path(name: str) -> str:
    # Only the name counts: a path sent with the upload never places a file elsewhere.
    base = posixpath.basename(name.replace("\\", "/")) or "upload"
    return MNT + base


class Containers:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, new: NewContainer) -> ContainerRow:
        """A new container, with copies of the Files `new.file_ids` names in /mnt/data."""
        copies = []
        for i, file_id in enumerate(new.file_ids):
            row, path = await self.ctx.store.read(_source, self.ctx.cfg.files_dir, file_id,
                                                  f"file_ids[{i}]")
            copies.append((await self._copy(path), row["filename"]))
        now = crud.now()
        container = ContainerRow(id=new_id("container"), created_at=now, name=new.name,
                                 status=containers.RUNNING,
                                 expires_minutes=new.expires_minutes, last_active_at=now,
                                 memory_limit=new.memory_limit)
        rows = [self._file_row(container["id"], blob, size, name, "user")
                for (blob, size), name in copies]
        try:
            await self.ctx.store.write(_insert, container, rows)
        except BaseException:
            for (blob, _), _name in copies:
                blobs.discard(self.ctx.cfg.files_dir, blob)
            raise
        return container

    async def _copy(self, path: Path) -> tuple[str, int]:
        def copy() -> tuple[str, int]:
            with open(path, "rb") as source:
                return blobs.write_blob(self.ctx.cfg.files_dir, source)
        return await off_loop(copy)

    @staticmethod
    def _file_row(container_id: str, blob: str, size: int, name: str, source: str
                  ) -> ContainerFileRow:
        return ContainerFileRow(id=new_id("container_file"), container_id=container_id,
                                created_at=crud.now(), bytes=size,
                                container_path=_file_path(name), source=source, blob=blob)

    async def retrieve(self, container_id: str) -> ContainerRow:
        return await self.ctx.store.read(get, container_id)

    async def page(self, params: PageParams, name: str | None
                   ) -> tuple[list[ContainerRow], bool]:
        rows, more = await self.ctx.store.read(_page, params, name)
        for row in rows:
            row["status"] = containers.status_now(row)
        return rows, more

    async def delete(self, container_id: str) -> None:
        gone = await self.ctx.store.write(_delete, container_id)
        for blob in gone:
            blobs.discard(self.ctx.cfg.files_dir, blob)
        await off_loop(self.ctx.background.drop_kernel, container_id)

    # --- files -------------------------------------------------------------------------------

    async def add_upload(self, container_id: str, source: BinaryIO, filename: str | None
                         ) -> ContainerFileRow:
        await self.ctx.store.read(running, container_id)
        limit = self.ctx.cfg.max_upload_bytes
        blob, size = await off_loop(blobs.write_blob, self.ctx.cfg.files_dir, source)
        if size > limit:
            blobs.discard(self.ctx.cfg.files_dir, blob)
            raise InvalidRequest(f"File is larger than the {limit}-byte limit.", param="file")
        return await self._add(container_id, blob, size, filename or "upload")

    async def add_file(self, container_id: str, file_id: str) -> ContainerFileRow:
        await self.ctx.store.read(running, container_id)
        row, path = await self.ctx.store.read(_source, self.ctx.cfg.files_dir, file_id,
                                              "file_id")
        blob, size = await self._copy(path)
        return await self._add(container_id, blob, size, row["filename"])

    async def _add(self, container_id: str, blob: str, size: int, name: str
                   ) -> ContainerFileRow:
        row = self._file_row(container_id, blob, size, name, "user")
        try:
            await self.ctx.store.write(_insert_file, row)
        except BaseException:
            blobs.discard(self.ctx.cfg.files_dir, blob)
            raise
        return row

    async def files_page(self, container_id: str, params: PageParams
                         ) -> tuple[list[ContainerFileRow], bool]:
        return await self.ctx.store.read(_files_page, container_id, params)

    async def file(self, container_id: str, file_id: str) -> ContainerFileRow:
        return await self.ctx.store.read(_file, container_id, file_id)

    async def file_content(self, container_id: str, file_id: str
                           ) -> tuple[ContainerFileRow, Path]:
        row = await self.file(container_id, file_id)
        return row, self.ctx.cfg.files_dir / row["blob"]

    async def delete_file(self, container_id: str, file_id: str) -> None:
        row = await self.ctx.store.write(_delete_file, container_id, file_id)
        blobs.discard(self.ctx.cfg.files_dir, row["blob"])


def _source(conn: Connection, files_dir: Path, file_id: str, param: str
            ) -> tuple[FileRow, Path]:
    """A File to copy in: a missing one is a bad request naming where it was named."""
    require_file(conn, file_id, param)
    return files.blob_path(conn, files_dir, file_id)


def _insert(conn: Connection, container: ContainerRow, rows: list[ContainerFileRow]) -> None:
    crud.add(conn, Container, container)
    for row in rows:
        crud.add(conn, ContainerFile, row)


def _insert_file(conn: Connection, row: ContainerFileRow) -> None:
    running(conn, row["container_id"])
    crud.add(conn, ContainerFile, row)
    containers.touch(conn, row["container_id"])


def _page(conn: Connection, params: PageParams, name: str | None
          ) -> tuple[list[ContainerRow], bool]:
    scope = {"name": name} if name else {}
    return crud.page(conn, Container, params, **scope)


def _delete(conn: Connection, container_id: str) -> list[str]:
    get(conn, container_id)
    gone = containers.blobs_of(conn, container_id)
    f = crud.table_of(ContainerFile)
    conn.execute(delete(f).where(f.c.container_id == container_id))
    kernel_homes.forget(conn, container_id)
    crud.remove(conn, Container, container_id)
    return gone


def _files_page(conn: Connection, container_id: str, params: PageParams
                ) -> tuple[list[ContainerFileRow], bool]:
    get(conn, container_id)
    return crud.page(conn, ContainerFile, params, container_id=container_id)


def _file(conn: Connection, container_id: str, file_id: str) -> ContainerFileRow:
    get(conn, container_id)
    row = crud.find(conn, ContainerFile, file_id, container_id=container_id)
    if row is None:
        raise Missing(f"Container file with id '{file_id}' not found.", param="file_id")
    return crud.to_object(ContainerFile, row)


def _delete_file(conn: Connection, container_id: str, file_id: str) -> ContainerFileRow:
    row = _file(conn, container_id, file_id)
    crud.remove(conn, ContainerFile, file_id)
    return row


# --- the code_interpreter side (a model worker's thread) ------------------------------------------


def input_files(conn: Connection, container_id: str) -> tuple[InputFile, ...]:
    """The container's files as the kernel finds them in /mnt/data."""
    rows, _ = crud.page(conn, ContainerFile, _ALL, container_id=container_id)
    return tuple(InputFile(r["id"], posixpath.basename(r["container_path"]), r["blob"])
                 for r in rows)


_ALL = PageParams(limit=10_000, order="asc")


def reusable(conn: Connection, items: list[ItemJson]) -> str | None:
    """The container the latest code_interpreter call of `items` (a chain's or conversation's
    history) ran in, if it still runs: `container: auto` goes on in it."""
    for item in reversed(items):
        if item.get("type") == "code_interpreter_call" and item.get("container_id"):
            row = crud.find(conn, Container, str(item["container_id"]))
            if row is not None and containers.status_now(crud.to_object(Container, row)) \
                    == containers.RUNNING:
                return str(item["container_id"])
            return None
    return None


def keep_outputs(store: Store, files_dir: Path, container_id: str, call_id: str,
                 images: list[bytes], produced: list[Produced]
                 ) -> tuple[list[str], dict[str, str]]:
    """What the code made becomes the container's files (`source: assistant`): each image, and
    each file it wrote or changed in /mnt/data (a changed file replaces the earlier one of the
    same path). Returns the images' ids and /mnt/data path -> file id."""
    made: list[tuple[str, int, str]] = []
    for i, png in enumerate(images):
        made.append((*blobs.write_blob(files_dir, io.BytesIO(png)), f"{call_id}-{i}.png"))
    for f in produced:
        try:
            with f.open() as data:  # streamed: no copy in memory
                made.append((*blobs.write_blob(files_dir, data), f.name))
        except (OSError, ValueError):  # gone or replaced meanwhile: nothing to keep
            continue
    rows = [Containers._file_row(container_id, blob, size, name, "assistant")
            for blob, size, name in made]
    with store.begin() as conn:
        replaced = _replace_files(conn, container_id, rows)
        containers.touch(conn, container_id)
    for blob in replaced:
        blobs.discard(files_dir, blob)
    ids = [r["id"] for r in rows]
    return ids[:len(images)], {r["container_path"]: r["id"] for r in rows[len(images):]}


def _replace_files(conn: Connection, container_id: str, rows: list[ContainerFileRow]
                   ) -> list[str]:
    f = crud.table_of(ContainerFile)
    paths = [r["container_path"] for r in rows]
    old = conn.execute(select(f.c.id, f.c.blob).where(
        f.c.container_id == container_id, f.c.container_path.in_(paths))).all()
    if old:
        conn.execute(delete(f).where(f.c.id.in_([o.id for o in old])))
    for row in rows:
        crud.add(conn, ContainerFile, row)
    return [o.blob for o in old]
