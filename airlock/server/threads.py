"""/v1/threads"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.engine import threads
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Thread
from airlock.server.deps import store
from airlock.server.responses import WireJSON, deleted
from airlock.server.wire.common import dump
from airlock.server.wire.objects import render
from airlock.server.wire.requests import ThreadCreate, ThreadUpdate, provided

router = APIRouter(prefix="/v1/threads")


@router.post("")
def create_thread(body: ThreadCreate | None = None, db: Store = Depends(store)) -> WireJSON:
    fields = {k: dump(v) for k, v in provided(body).items()} if body else {}
    with db.begin() as conn:
        row = threads.create(conn, fields)
    return WireJSON(render("thread", row))


@router.get("/{thread_id}")
def retrieve_thread(thread_id: str, db: Store = Depends(store)) -> WireJSON:
    with db.read() as conn:
        return WireJSON(render("thread", crud.get(conn, Thread, "thread", thread_id)))


@router.post("/{thread_id}")
def update_thread(thread_id: str, body: ThreadUpdate, db: Store = Depends(store)) -> WireJSON:
    with db.begin() as conn:
        row = threads.update(conn, thread_id, {k: dump(v) for k, v in provided(body).items()})
    return WireJSON(render("thread", row))


@router.delete("/{thread_id}")
def delete_thread(thread_id: str, db: Store = Depends(store)) -> WireJSON:
    with db.begin() as conn:
        threads.delete_thread(conn, thread_id)
    return deleted(thread_id, "thread.deleted")
