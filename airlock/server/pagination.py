"""The cursor-list query parameters every list endpoint shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Query

from airlock.errors import InvalidRequest
from airlock.service import PageParams


def page_params(default_limit: int = 20, max_limit: int = 100
                ) -> Callable[..., Awaitable[PageParams]]:
    async def dependency(
        # Bounds shown in the OpenAPI document; checked below, with the API's own messages.
        limit: int = Query(default_limit,
                           json_schema_extra={"minimum": 1, "maximum": max_limit}),
        order: str = Query("desc", json_schema_extra={"enum": ["asc", "desc"]}),
        after: str | None = Query(None),
        before: str | None = Query(None),
    ) -> PageParams:
        if not 1 <= limit <= max_limit:
            raise InvalidRequest(
                f"Invalid 'limit': integer below minimum value or above maximum value. "
                f"Expected a value between 1 and {max_limit}, but got {limit} instead.",
                param="limit",
                code="integer_out_of_range" if limit > max_limit else "integer_below_min_value",
            )
        if order not in ("asc", "desc"):
            raise InvalidRequest(
                f"Invalid 'order': expected one of 'asc' or 'desc', but got '{order}' instead.",
                param="order",
            )
        return PageParams(limit=limit, order=order, after=after or None, before=before or None)

    return dependency
