"""JSON responses rendered straight from dicts, skipping FastAPI's slower generic encoder."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class WireJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def list_page(data: list[dict[str, Any]], has_more: bool) -> WireJSON:
    return WireJSON(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }
    )


def deleted(object_id: str, obj: str) -> WireJSON:
    return WireJSON({"id": object_id, "object": obj, "deleted": True})
