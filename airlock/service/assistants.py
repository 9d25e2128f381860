"""Assistants: stored with the real API's defaults, references checked on create and update."""

from __future__ import annotations

from sqlalchemy import Connection

from airlock.service import assistant_files, tool_resources
from airlock.service.commands import AssistantCreate, AssistantUpdate
from airlock.service.context import Context
from airlock.service.model_names import resolve_model
from airlock.service.paging import PageParams
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import AssistantRow
from airlock.store.tables import Assistant

KIND = "assistant"
# The real API reports its defaults rather than nulls; an update to null restores them.
# temperature and top_p stay null until set: a run then uses its model's sampling defaults
# (the wire shows the API's 1.0).
DEFAULTS: dict[str, object] = {"metadata": {}, "tools": [], "response_format": "auto"}


def _create(conn: Connection, fields: AssistantCreate) -> AssistantRow:
    return crud.add(conn, Assistant, AssistantRow(
        id=new_id("assistant"),
        created_at=crud.now(),
        name=fields.get("name"),
        description=fields.get("description"),
        model=fields["model"],
        instructions=fields.get("instructions"),
        tools=fields.get("tools") or [],
        tool_resources=tool_resources.resolve(conn, fields.get("tool_resources"),
                                              "tool_resources"),
        metadata=fields.get("metadata") or {},
        temperature=fields.get("temperature"),
        top_p=fields.get("top_p"),
        response_format=fields.get("response_format") or "auto",
        reasoning_effort=fields.get("reasoning_effort"),
    ))


def _update(conn: Connection, assistant_id: str, fields: AssistantUpdate) -> AssistantRow:
    crud.get(conn, Assistant, KIND, assistant_id)
    changes: dict[str, object] = {**fields}
    if "tool_resources" in fields:
        changes["tool_resources"] = tool_resources.resolve(conn, fields["tool_resources"],
                                                           "tool_resources")
    for key, default in DEFAULTS.items():
        if key in changes and changes[key] is None:
            changes[key] = default
    if changes.get("model", "") is None:
        del changes["model"]
    crud.change(conn, Assistant, assistant_id, changes)
    return crud.get(conn, Assistant, KIND, assistant_id)


def _create_v1(conn: Connection, fields: AssistantCreate, file_ids: list[str]
               ) -> AssistantRow:
    row = _create(conn, fields)
    assistant_files.set_files(conn, row["id"], file_ids)
    return crud.get(conn, Assistant, KIND, row["id"])


def _update_v1(conn: Connection, assistant_id: str, fields: AssistantUpdate,
               file_ids: list[str] | None) -> tuple[AssistantRow, list[tuple[str, str]]]:
    """The update, then the v1 files (the sent list, else the ones it had) applied again, so
    that a retrieval tool added now also gets the assistant's files searched."""
    if file_ids is None:
        file_ids = assistant_files.file_ids_of(conn, [crud.get(conn, Assistant, KIND,
                                                               assistant_id)])[assistant_id]
    _update(conn, assistant_id, fields)
    removed = assistant_files.set_files(conn, assistant_id, file_ids)
    return crud.get(conn, Assistant, KIND, assistant_id), removed


class Assistants:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def create(self, fields: AssistantCreate) -> AssistantRow:
        resolve_model(self.ctx, fields["model"])  # --strict-models: unknown names refused here
        return await self.ctx.write_queueing_files(_create, fields)

    async def create_v1(self, fields: AssistantCreate, file_ids: list[str]) -> AssistantRow:
        """An Assistants v1 create: v2 fields, plus the v1 `file_ids` (see assistant_files)."""
        resolve_model(self.ctx, fields["model"])
        return await self.ctx.write_queueing_files(_create_v1, fields, file_ids)

    async def update_v1(self, assistant_id: str, fields: AssistantUpdate,
                        file_ids: list[str] | None) -> AssistantRow:
        if model := fields.get("model"):
            resolve_model(self.ctx, model)
        row, removed = await self.ctx.write_queueing_files(_update_v1, assistant_id, fields,
                                                           file_ids)
        await assistant_files.drop_chunks(self.ctx, removed)
        return row

    async def retrieve(self, assistant_id: str) -> AssistantRow:
        return await self.ctx.store.read(crud.get, Assistant, KIND, assistant_id)

    async def update(self, assistant_id: str, fields: AssistantUpdate) -> AssistantRow:
        if model := fields.get("model"):
            resolve_model(self.ctx, model)
        return await self.ctx.write_queueing_files(_update, assistant_id, fields)

    async def page(self, params: PageParams) -> tuple[list[AssistantRow], bool]:
        return await self.ctx.store.read(crud.page, Assistant, params)

    async def delete(self, assistant_id: str) -> None:
        await self.ctx.store.write(crud.delete_checked, Assistant, KIND, assistant_id)
