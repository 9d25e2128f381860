"""Request bodies and response objects of /v1/conversations (docs/wire/conversations.md).

Item lists are taken as plain JSON objects here and validated by `parse_items`
(wire/response_items.py), which names the item and field at fault in its 400s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from airlock.errors import InvalidRequest
from airlock.server.wire.common import FreeJson, Metadata, NullIsEmpty, Strict

MAX_ITEMS = 20  # per request, on create and items.create

# The API's `include` values (ResponseIncludable). Each shows a field a stored item keeps but
# lists hide unless asked for.
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)

ItemList = Annotated[list[Annotated[dict[str, Any], FreeJson]], Field(max_length=MAX_ITEMS)]


class ConversationCreate(Strict):
    items: Annotated[ItemList, NullIsEmpty] = []
    metadata: Metadata = None
    # Sent by the SDK (3.x) for OpenAI's abuse monitoring: accepted and not kept.
    safety_identifier: str | None = None


class ConversationUpdate(Strict):
    # Required, as on the API; it replaces the metadata as a whole (null empties it).
    metadata: Metadata


class ItemsCreate(Strict):
    items: Annotated[ItemList, Field(min_length=1)]


async def include_param(
    brackets: list[str] | None = Query(None, alias="include[]"),
    plain: list[str] | None = Query(None, alias="include"),
) -> list[str]:
    """`include[]=...` as the Python and Node SDKs send it, or `include=...`."""
    values = [*(brackets or []), *(plain or [])]
    for i, value in enumerate(values):
        if value not in INCLUDABLE:
            raise InvalidRequest(
                f"Invalid value for 'include[{i}]': '{value}'. Supported values are: "
                + ", ".join(f"'{v}'" for v in INCLUDABLE) + ".", param="include")
    return values


def conversation_object(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "conversation", "created_at": row["created_at"],
            "metadata": row["metadata"] or {}}


def item_view(item: Mapping[str, Any], include: list[str]) -> dict[str, Any]:
    """A stored item as lists and reads show it: fields the client did not `include` hidden."""
    out = dict(item)
    kind = out.get("type")
    if kind == "file_search_call" and "file_search_call.results" not in include:
        out["results"] = None
    elif kind == "code_interpreter_call" and "code_interpreter_call.outputs" not in include:
        out["outputs"] = None
    elif kind == "reasoning" and "reasoning.encrypted_content" not in include:
        out.pop("encrypted_content", None)
    elif (kind == "message" and "message.output_text.logprobs" not in include
          and isinstance(out.get("content"), list)):
        out["content"] = [_without_logprobs(part) for part in out["content"]]
    return out


def _without_logprobs(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") == "output_text" and "logprobs" in part:
        return {k: v for k, v in part.items() if k != "logprobs"}
    return part
