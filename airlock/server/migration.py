"""/airlock/v1/threads/{thread_id}/conversation: airlock's own action turning an Assistants
thread into a Responses conversation (service.thread_migration); the thread stays as it was."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON
from airlock.server.wire.conversations import conversation_object
from airlock.service import Services

router = APIRouter(prefix="/airlock/v1/threads")


@router.post("/{thread_id}/conversation")
async def migrate_thread(thread_id: str, svc: Services = Depends(services)) -> WireJSON:
    """A new conversation holding the thread's messages and tool calls as items."""
    return WireJSON(conversation_object(await svc.thread_migration.migrate(thread_id)))
