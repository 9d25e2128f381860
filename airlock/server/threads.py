"""/v1/threads"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.engine import threads
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Thread
from airlock.engine.service import Engine
from airlock.server.deps import engine, store
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
async def delete_thread(thread_id: str, eng: Engine = Depends(engine)) -> WireJSON:
    await eng.delete_thread(thread_id)  # its code_interpreter kernel and files go too
    return deleted(thread_id, "thread.deleted")
