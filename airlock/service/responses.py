"""Responses: one turn of the core per response, stored (store=true) with its items."""

from __future__ import annotations

from airlock.service.context import Context


class Responses:
    def __init__(self, ctx: Context):
        self.ctx = ctx
