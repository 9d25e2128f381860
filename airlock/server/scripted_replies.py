"""/airlock/v1/scripted/replies: queue deterministic replies for the `scripted` model."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from airlock.server.deps import services
from airlock.server.json_response import WireJSON
from airlock.server.wire.common import dump
from airlock.server.wire.requests import ScriptedReplies
from airlock.service import Services

router = APIRouter(prefix="/airlock/v1/scripted/replies")


@router.post("")
async def queue_replies(body: ScriptedReplies, svc: Services = Depends(services)) -> WireJSON:
    count = await svc.scripted_replies.push(dump(body.replies), body.thread_id)
    return WireJSON({"object": "scripted.replies", "queued": count, "thread_id": body.thread_id})


@router.get("")
async def list_replies(thread_id: str | None = Query(None),
                       svc: Services = Depends(services)) -> WireJSON:
    """The replies still queued for this thread (the global queue without thread_id), next first."""
    replies = await svc.scripted_replies.queued(thread_id)
    return WireJSON({"object": "scripted.replies", "thread_id": thread_id, "replies": replies})


@router.delete("")
async def clear_replies(thread_id: str | None = Query(None),
                        svc: Services = Depends(services)) -> WireJSON:
    count = await svc.scripted_replies.clear(thread_id)
    return WireJSON({"object": "scripted.replies", "cleared": count, "thread_id": thread_id})
