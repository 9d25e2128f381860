"""/v1/assistants"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.engine import assistants
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Assistant
from airlock.engine.service import Engine
from airlock.server.deps import engine, store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, deleted, list_page
from airlock.server.wire.common import dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import AssistantCreate, AssistantUpdate

router = APIRouter(prefix="/v1/assistants")
KIND = assistants.KIND


@router.post("")
async def create_assistant(
    body: AssistantCreate, db: Store = Depends(store), eng: Engine = Depends(engine)
) -> WireJSON:
    eng.resolve(body.model)  # --strict-models: unknown names are refused here already
    row = await db.write(assistants.create, dump_fields(body))
    return WireJSON(render("assistant", row))


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, db: Store = Depends(store)) -> WireJSON:
    return WireJSON(render("assistant", await db.read(crud.get, Assistant, KIND, assistant_id)))


@router.post("/{assistant_id}")
async def update_assistant(
    assistant_id: str, body: AssistantUpdate, db: Store = Depends(store),
    eng: Engine = Depends(engine),
) -> WireJSON:
    if body.model:
        eng.resolve(body.model)
    row = await db.write(assistants.update, assistant_id, dump_fields(body))
    return WireJSON(render("assistant", row))


@router.get("")
async def list_assistants(page=Depends(page_params()), db: Store = Depends(store)) -> WireJSON:
    rows, more = await db.read(crud.page, Assistant, page)
    return list_page(render_all("assistant", rows), more)


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, db: Store = Depends(store)) -> WireJSON:
    await db.write(crud.delete_checked, Assistant, KIND, assistant_id)
    return deleted(assistant_id, "assistant.deleted")
