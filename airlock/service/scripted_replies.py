"""The scripted model's reply queue: replies pushed per thread or globally, listed, or cleared.
A reply is opaque JSON here (validated by the server's request model, read by models.scripted)."""

from __future__ import annotations

from airlock.service.context import Context
from airlock.store import scripted_replies
from airlock.store.records import JsonObject


class ScriptedReplies:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def push(self, replies: list[JsonObject], thread_id: str | None) -> int:
        return await self.ctx.store.write(scripted_replies.push, replies, thread_id)

    async def queued(self, thread_id: str | None) -> list[JsonObject]:
        return await self.ctx.store.read(scripted_replies.queued, thread_id)

    async def clear(self, thread_id: str | None) -> int:
        return await self.ctx.store.write(scripted_replies.clear, thread_id)
