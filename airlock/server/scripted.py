"""/airlock/v1/scripted/replies: queue deterministic replies for the `scripted` model."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from airlock.engine import scripted
from airlock.engine.store import Store
from airlock.server.deps import store
from airlock.server.responses import WireJSON
from airlock.server.wire.common import dump
from airlock.server.wire.requests import ScriptedReplies

router = APIRouter(prefix="/airlock/v1/scripted/replies")


@router.post("")
async def queue_replies(body: ScriptedReplies, db: Store = Depends(store)) -> WireJSON:
    count = await db.write(scripted.push, dump(body.replies), body.thread_id)
    return WireJSON({"object": "scripted.replies", "queued": count, "thread_id": body.thread_id})


@router.delete("")
async def clear_replies(thread_id: str | None = Query(None), db: Store = Depends(store)) -> WireJSON:
    count = await db.write(scripted.clear, thread_id)
    return WireJSON({"object": "scripted.replies", "cleared": count, "thread_id": thread_id})
