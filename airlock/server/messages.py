"""/v1/threads/{thread_id}/messages"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from airlock.engine import messages
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Message, Thread
from airlock.server.deps import store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, deleted, list_page
from airlock.server.wire.common import dump
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import MessageCreate, MetadataUpdate

router = APIRouter(prefix="/v1/threads/{thread_id}/messages")


@router.post("")
def create_message(thread_id: str, body: MessageCreate, db: Store = Depends(store)) -> WireJSON:
    with db.begin() as conn:
        row = messages.create(conn, thread_id, dump(body))
    return WireJSON(render("message", row))


@router.get("/{message_id}")
def retrieve_message(thread_id: str, message_id: str, db: Store = Depends(store)) -> WireJSON:
    with db.read() as conn:
        crud.get(conn, Thread, "thread", thread_id)
        row = crud.get(conn, Message, "message", message_id, thread_id=thread_id)
    return WireJSON(render("message", row))


@router.post("/{message_id}")
def update_message(
    thread_id: str, message_id: str, body: MetadataUpdate, db: Store = Depends(store)
) -> WireJSON:
    with db.begin() as conn:
        crud.get(conn, Thread, "thread", thread_id)
        crud.get(conn, Message, "message", message_id, thread_id=thread_id)
        if "metadata" in body.model_fields_set:
            crud.change(conn, Message, message_id, {"metadata": body.metadata or {}})
        row = crud.get(conn, Message, "message", message_id)
    return WireJSON(render("message", row))


@router.get("")
async def list_messages(
    thread_id: str,
    run_id: str | None = Query(None),
    page=Depends(page_params()),
    db: Store = Depends(store),
) -> WireJSON:
    scope = {"thread_id": thread_id}
    if run_id:
        scope["run_id"] = run_id
    with db.read() as conn:
        crud.get(conn, Thread, "thread", thread_id)
        rows, more = crud.page(conn, Message, page, **scope)
    return list_page(render_all("message", rows), more)


@router.delete("/{message_id}")
def delete_message(thread_id: str, message_id: str, db: Store = Depends(store)) -> WireJSON:
    with db.begin() as conn:
        crud.get(conn, Thread, "thread", thread_id)
        crud.get(conn, Message, "message", message_id, thread_id=thread_id)
        crud.remove(conn, Message, message_id)
    return deleted(message_id, "thread.message.deleted")
