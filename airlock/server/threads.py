"""/v1/threads"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.engine import threads
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Thread
from airlock.server.deps import store
from airlock.server.responses import WireJSON, deleted
from airlock.server.wire.common import dump_fields
from airlock.server.wire.objects import render
from airlock.server.wire.requests import ThreadCreate, ThreadUpdate

router = APIRouter(prefix="/v1/threads")


@router.post("")
async def create_thread(body: ThreadCreate | None = None, db: Store = Depends(store)) -> WireJSON:
    row = await db.write(threads.create, dump_fields(body) if body else {})
    return WireJSON(render("thread", row))


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, db: Store = Depends(store)) -> WireJSON:
    return WireJSON(render("thread", await db.read(crud.get, Thread, threads.KIND, thread_id)))


@router.post("/{thread_id}")
async def update_thread(thread_id: str, body: ThreadUpdate, db: Store = Depends(store)) -> WireJSON:
    row = await db.write(threads.update, thread_id, dump_fields(body))
    return WireJSON(render("thread", row))


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, db: Store = Depends(store)) -> WireJSON:
    await db.write(threads.delete_thread, thread_id)
    return deleted(thread_id, "thread.deleted")
