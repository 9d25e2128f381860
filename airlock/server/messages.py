"""/v1/threads/{thread_id}/messages"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from airlock.engine import messages
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Message
from airlock.server.deps import store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, deleted, list_page
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import MessageCreate, MetadataUpdate

router = APIRouter(prefix="/v1/threads/{thread_id}/messages")
KIND = messages.KIND


@router.post("")
async def create_message(thread_id: str, body: MessageCreate, db: Store = Depends(store)) -> WireJSON:
    row = await db.write(messages.create, thread_id, dump(body))
    return WireJSON(render("message", row))


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, db: Store = Depends(store)) -> WireJSON:
    row = await db.read(crud.get_in_thread, Message, KIND, message_id, thread_id)
    return WireJSON(render("message", row))


@router.post("/{message_id}")
async def update_message(
    thread_id: str, message_id: str, body: MetadataUpdate, db: Store = Depends(store)
) -> WireJSON:
    row = await db.write(crud.update_in_thread, Message, KIND, message_id, thread_id, dump_fields(body))
    return WireJSON(render("message", row))


@router.get("")
async def list_messages(
    thread_id: str,
    run_id: str | None = Query(None),
    page=Depends(page_params()),
    db: Store = Depends(store),
) -> WireJSON:
    scope = {"run_id": run_id} if run_id else {}
    rows, more = await db.read(crud.page_in_thread, Message, page, thread_id, **scope)
    return list_page(render_all("message", rows), more)


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, db: Store = Depends(store)) -> WireJSON:
    await db.write(crud.delete_in_thread, Message, KIND, message_id, thread_id)
    return deleted(message_id, "thread.message.deleted")
