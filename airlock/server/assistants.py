"""/v1/assistants"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.engine import assistants
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Assistant
from airlock.server.deps import store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, deleted, list_page
from airlock.server.wire.common import dump
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import AssistantCreate, AssistantUpdate, provided

router = APIRouter(prefix="/v1/assistants")


@router.post("")
def create_assistant(body: AssistantCreate, db: Store = Depends(store)) -> WireJSON:
    with db.begin() as conn:
        row = assistants.create(conn, {k: dump(v) for k, v in provided(body).items()})
    return WireJSON(render("assistant", row))


@router.get("/{assistant_id}")
def retrieve_assistant(assistant_id: str, db: Store = Depends(store)) -> WireJSON:
    with db.read() as conn:
        return WireJSON(render("assistant", crud.get(conn, Assistant, "assistant", assistant_id)))


@router.post("/{assistant_id}")
def update_assistant(assistant_id: str, body: AssistantUpdate, db: Store = Depends(store)) -> WireJSON:
    with db.begin() as conn:
        row = assistants.update(conn, assistant_id, {k: dump(v) for k, v in provided(body).items()})
    return WireJSON(render("assistant", row))


@router.get("")
def list_assistants(page=Depends(page_params()), db: Store = Depends(store)) -> WireJSON:
    with db.read() as conn:
        rows, more = crud.page(conn, Assistant, page)
    return list_page(render_all("assistant", rows), more)


@router.delete("/{assistant_id}")
def delete_assistant(assistant_id: str, db: Store = Depends(store)) -> WireJSON:
    with db.begin() as conn:
        crud.get(conn, Assistant, "assistant", assistant_id)
        crud.remove(conn, Assistant, assistant_id)
    return deleted(assistant_id, "assistant.deleted")
