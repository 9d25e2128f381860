"""Assistants v1's files, kept in v2 terms, as OpenAI carried v1 assistants into v2.

An assistant's v1 `file_ids` are its code_interpreter files; when it has the file_search tool
(v1: retrieval), the same files fill its vector store, made for it when it has none. A v1 write
of `file_ids` makes both hold exactly that list. Read back, an assistant's v1 files are its
code_interpreter files, then its vector store's files (so a v2 assistant shows its files too).
"""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy import Connection, delete, select

from airlock.errors import InvalidRequest, NotFound
from airlock.service import vector_store_files as vs_files
from airlock.service import vector_stores
from airlock.service.context import Context, off_loop
from airlock.service.listing import page_items
from airlock.service.paging import PageParams
from airlock.service.references import require_file
from airlock.store import crud, files
from airlock.store.records import AssistantRow, ToolResources
from airlock.store.tables import Assistant, VectorStoreFile

KIND = "assistant file"
MAX_FILES = 20


class AssistantFile(TypedDict):
    """A v1 assistant file, as the wire's assistant.file shows it."""

    id: str
    created_at: int


def file_ids_of(conn: Connection, assistants: list[AssistantRow]) -> dict[str, list[str]]:
    """Each assistant's v1 file ids, by assistant id."""
    stores = {a["id"]: _store_ids(a) for a in assistants}
    wanted = {s for ids in stores.values() for s in ids}
    in_store: dict[str, list[str]] = {}
    if wanted:
        t = crud.table_of(VectorStoreFile)
        for store_id, file_id in conn.execute(select(t.c.vector_store_id, t.c.id).where(
                t.c.vector_store_id.in_(wanted)).order_by(t.c.seq)).all():
            in_store.setdefault(store_id, []).append(file_id)
    out = {}
    for a in assistants:
        ids = list(_code_files(a))
        for store_id in stores[a["id"]]:
            ids += in_store.get(store_id, [])
        out[a["id"]] = list(dict.fromkeys(ids))
    return out


def set_files(conn: Connection, assistant_id: str, file_ids: list[str],
              param: str = "file_ids") -> list[tuple[str, str]]:
    """Makes `file_ids` the assistant's v1 files. Returns the (store, file) pairs taken out of
    its vector store, whose chunks must leave the index once this commits."""
    assistant = crud.get(conn, Assistant, "assistant", assistant_id)
    file_ids = list(dict.fromkeys(file_ids))
    if len(file_ids) > MAX_FILES:
        raise InvalidRequest(f"An assistant can have at most {MAX_FILES} files.", param=param)
    for i, file_id in enumerate(file_ids):
        require_file(conn, file_id, f"{param}[{i}]")
    resources: ToolResources = {**(assistant["tool_resources"] or {})}
    resources["code_interpreter"] = {"file_ids": file_ids}
    removed: list[tuple[str, str]] = []
    if any(t["type"] == "file_search" for t in assistant["tools"]):
        ids = _store_ids(assistant)
        store_id = ids[0] if ids else vector_stores.insert(
            conn, {"name": f"vector store for {assistant_id}"})["id"]
        t = crud.table_of(VectorStoreFile)
        present = set(conn.execute(select(t.c.id).where(t.c.vector_store_id == store_id)).scalars())
        for file_id in file_ids:
            if file_id not in present:
                vs_files.add(conn, store_id, file_id)
        for file_id in present - set(file_ids):
            conn.execute(delete(t).where(t.c.vector_store_id == store_id, t.c.id == file_id))
            removed.append((store_id, file_id))
        resources["file_search"] = {"vector_store_ids": [store_id]}
    crud.change(conn, Assistant, assistant_id, {"tool_resources": resources})
    return removed


def _store_ids(assistant: AssistantRow) -> list[str]:
    resources = assistant["tool_resources"] or {}
    return (resources.get("file_search") or {}).get("vector_store_ids") or []


def _code_files(assistant: AssistantRow) -> list[str]:
    resources = assistant["tool_resources"] or {}
    return (resources.get("code_interpreter") or {}).get("file_ids") or []


def _v1_files(conn: Connection, assistant_id: str) -> list[str]:
    return file_ids_of(conn, [crud.get(conn, Assistant, "assistant", assistant_id)])[assistant_id]


def _attach(conn: Connection, assistant_id: str, file_id: str) -> list[tuple[str, str]]:
    return set_files(conn, assistant_id, [*_v1_files(conn, assistant_id), file_id], "file_id")


def _detach(conn: Connection, assistant_id: str, file_id: str) -> list[tuple[str, str]]:
    current = _v1_files(conn, assistant_id)
    if file_id not in current:
        raise NotFound(KIND, file_id)
    return set_files(conn, assistant_id, [f for f in current if f != file_id])


def _files(conn: Connection, assistant_id: str) -> list[AssistantFile]:
    """The assistant's v1 files that still exist, oldest first, as {id, created_at}."""
    rows = [files.find(conn, f) for f in _v1_files(conn, assistant_id)]
    return [{"id": r.id, "created_at": r.created_at} for r in rows if r is not None]


class AssistantFiles:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def attach(self, assistant_id: str, file_id: str) -> AssistantFile:
        removed = await self.ctx.write_queueing_files(_attach, assistant_id, file_id)
        await drop_chunks(self.ctx, removed)
        return await self.retrieve(assistant_id, file_id)

    async def detach(self, assistant_id: str, file_id: str) -> None:
        await drop_chunks(self.ctx, await self.ctx.store.write(_detach, assistant_id, file_id))

    async def retrieve(self, assistant_id: str, file_id: str) -> AssistantFile:
        found = [f for f in await self.ctx.store.read(_files, assistant_id) if f["id"] == file_id]
        if not found:
            raise NotFound(KIND, file_id)
        return found[0]

    async def page(self, assistant_id: str, params: PageParams
                   ) -> tuple[list[AssistantFile], bool]:
        return page_items(await self.ctx.store.read(_files, assistant_id), params)

    async def file_ids(self, assistants: list[AssistantRow]) -> dict[str, list[str]]:
        """The v1 file ids of these assistants, by id."""
        return await self.ctx.store.read(file_ids_of, assistants)

    async def file_ids_by_id(self, assistant_ids: list[str]) -> dict[str, list[str]]:
        """The same by assistant id (an assistant deleted since has none)."""
        def read(conn: Connection) -> dict[str, list[str]]:
            rows = [crud.find(conn, Assistant, i) for i in dict.fromkeys(assistant_ids)]
            found = file_ids_of(conn, [crud.to_object(Assistant, r) for r in rows if r is not None])
            return {i: found.get(i, []) for i in assistant_ids}
        return await self.ctx.store.read(read)


async def drop_chunks(ctx: Context, removed: list[tuple[str, str]]) -> None:
    """Files taken out of vector stores leave the search index."""
    for store_id, file_id in removed:
        await off_loop(ctx.background.search.drop_file, [store_id], file_id)
