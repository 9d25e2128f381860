"""The scripted model's reply queue: replies pushed per thread or globally, listed, or cleared."""

from __future__ import annotations

from typing import Any

from airlock.service.context import Context
from airlock.store import scripted_replies


class ScriptedReplies:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def push(self, replies: list[dict[str, Any]], thread_id: str | None) -> int:
        return await self.ctx.store.write(scripted_replies.push, replies, thread_id)

    async def queued(self, thread_id: str | None) -> list[dict[str, Any]]:
        return await self.ctx.store.read(scripted_replies.queued, thread_id)

    async def clear(self, thread_id: str | None) -> int:
        return await self.ctx.store.write(scripted_replies.clear, thread_id)
