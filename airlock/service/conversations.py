"""Conversations: items kept in order, which responses read and append to."""

from __future__ import annotations

from airlock.service.context import Context


class Conversations:
    def __init__(self, ctx: Context):
        self.ctx = ctx
