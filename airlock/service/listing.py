"""Cursor pages over a list held in a row (an assistant's v1 files, a message's files), with
the same `limit`/`order`/`after`/`before` rules as the store's tables."""

from __future__ import annotations

from typing import TypedDict, TypeVar

from airlock.errors import InvalidRequest
from airlock.service.paging import PageParams


class Listed(TypedDict):
    id: str


Item = TypeVar("Item", bound=Listed)


def page_items(items: list[Item], params: PageParams) -> tuple[list[Item], bool]:
    """`items` oldest first, each with an "id"; returns one page and whether more lie beyond."""
    ordered = items if params.order == "asc" else items[::-1]
    ids = [item["id"] for item in ordered]
    start, end = 0, len(ordered)
    if params.after is not None:
        start = _position(ids, params.after, "after") + 1
    if params.before is not None:
        end = _position(ids, params.before, "before")
    window = ordered[start:end]
    if params.before is not None and params.after is None:
        # The objects nearest the cursor, as the tables' pages give them.
        return window[-params.limit:], len(window) > params.limit
    return window[:params.limit], len(window) > params.limit


def _position(ids: list[str], cursor: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise InvalidRequest(f"Invalid '{param}': no object with id '{cursor}' in this list.",
                             param=param) from None
