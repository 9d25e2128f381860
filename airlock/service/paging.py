"""Cursor page parameters, as the HTTP layer hands them to services (`limit` 1-100, `order`
asc|desc, `after` / `before` object ids); the store pages tables with them (store.crud)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageParams:
    limit: int = 20
    order: str = "desc"
    after: str | None = None
    before: str | None = None
